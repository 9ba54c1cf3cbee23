import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { appIntentKey } from '../../shared/keys.js';
import { readVerdicts } from '../../shared/rollout/verdicts.js';
import { deployLockKey } from '../../shared/keys.js';
import { readDeployments } from '../../pp/deploy/record.js';
import { distProgram } from '../support/run-cli.js';
import { APP, DeployFleet } from '../system/support/deploy-fleet.js';
import { until } from '../system/support/flip-fleet.js';

let fleet: DeployFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const consul = () => `consul://${inject('consulAddress')}`;
const prefixOf = () => `ppdeploy-${randomBytes(4).toString('hex')}`;
/** Where the 6-node transcript is kept for the report (set PP_DEPLOY_TRANSCRIPT). */
const TRANSCRIPT = process.env.PP_DEPLOY_TRANSCRIPT;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they came, each line stamped with the seconds since the start. */
  transcript: string;
  done: Promise<void>;
  child: ChildProcess;
}

/** Starts `pp <args>` (stdin `input`); `done` resolves when it has exited, with code and output filled in. */
function pp(args: string[], input = ''): Run {
  const started = Date.now();
  const child = spawn(process.execPath, [distProgram('pp/index.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const run: Run = { code: -1, stdout: '', stderr: '', transcript: '', done: Promise.resolve(), child };
  const stamp = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}  ${l}\n`)
      .join('');
  child.stdout.on('data', (d) => {
    run.stdout += String(d);
    run.transcript += stamp(String(d));
  });
  child.stderr.on('data', (d) => {
    run.stderr += String(d);
    run.transcript += stamp(String(d));
  });
  run.done = new Promise((resolve) =>
    child.on('exit', (code) => {
      run.code = code ?? -1;
      resolve();
    }),
  );
  child.stdin.end(input);
  return run;
}

async function finished(run: Run): Promise<Run> {
  await run.done;
  return run;
}

const storeArgs = (f: DeployFleet) => ['--store', f.storeSpec, '--prefix', f.prefix];
const names = (f: DeployFleet) => f.nodes.map((n) => n.name);

const describeFleet = (f: DeployFleet) => async () =>
  `${JSON.stringify(await f.answers())}\n${JSON.stringify(await Promise.all(f.nodes.map((n) => f.reality(n))), null, 1)}\n${await f.logs()}`;

async function allAnswer(f: DeployFleet, version: string): Promise<boolean> {
  return (await f.answers()).every((a) => a === version);
}

/** A fleet of `count` nodes all running 1.0, put there with pp intent put (a first start takes no rollout slot). */
async function fleetOn1(count: number): Promise<DeployFleet> {
  const f = await DeployFleet.start(consul(), prefixOf(), count);
  fleet = f;
  const spec = await f.writeSpec('v1.json', await f.artifact('1.0'));
  const put = await finished(pp([...storeArgs(f), 'intent', 'put', names(f).join(','), APP, '--file', spec]));
  expect(put.code, put.stderr).toBe(0);
  f.startAgents();
  await until('every node to run 1.0', () => allAnswer(f, '1.0'), describeFleet(f), 240_000);
  return f;
}

describe('pp deploy on simulated nodes (real Consul, pp-preparer, pp-setlive, runsvdir)', () => {
  it('installs 1.0 on a new fleet, then deploys 2.0 to nodes read from stdin while a second deploy is refused', async () => {
    const f = await DeployFleet.start(consul(), prefixOf(), 6);
    fleet = f;
    f.startAgents();
    const v1 = await f.writeSpec('v1.json', await f.artifact('1.0'));
    const first = await finished(pp([...storeArgs(f), 'deploy', APP, '--file', v1, '--nodes', names(f).join(','), '--yes']));
    expect(first.code, first.transcript + (await describeFleet(f)())).toBe(0);
    expect(first.stdout).toContain('6 nodes: 6 first install');
    expect(await f.answers()).toEqual(names(f).map(() => '1.0'));

    const v2 = await f.writeSpec('v2.json', await f.artifact('2.0'));
    const deploy = pp([...storeArgs(f), 'deploy', APP, '--file', v2, '--nodes', '-', '--yes'], `${names(f).join('\n')}\n`);
    await until(
      'the deploy to hold its lock',
      async () => (await f.store.get(deployLockKey(f.prefix, APP))) !== undefined,
      async () => deploy.transcript,
      120_000,
    );
    const second = await finished(pp([...storeArgs(f), 'deploy', APP, '--file', v2, '--all', '--yes']));
    expect(second.code, second.stderr).toBe(6);
    expect(second.stderr).toMatch(/another pp deploy of hello is running: .+ on .+ \(pid \d+\) since 20\d\d-/);
    await finished(deploy);
    if (TRANSCRIPT)
      await appendFile(
        TRANSCRIPT,
        `$ pp deploy hello --file v2.json --nodes - --yes   # 6 names on stdin\n${deploy.transcript}exit ${deploy.code}\n\n`,
      );
    expect(deploy.code, deploy.transcript + (await describeFleet(f)())).toBe(0);
    expect(deploy.stdout).toContain('6 nodes: 6 flip hello 1.0 → 2.0');
    expect(deploy.stdout).toMatch(/succeeded after [\d.]+ s: 6\/6 live on 2\.0/);
    expect(await f.answers()).toEqual(names(f).map(() => '2.0'));
    for (const n of f.nodes) {
      const intent = JSON.parse((await f.store.get(appIntentKey(f.prefix, n.name, APP)))!) as {
        versions: Array<{ version: string; state: string }>;
      };
      expect(intent.versions.map((v) => `${v.version}:${v.state}`)).toEqual(['2.0:live', '1.0:prepared']);
    }
    // The lock is given back; both deploys are recorded.
    expect(await f.store.get(deployLockKey(f.prefix, APP))).toBeUndefined();
    const history = await readDeployments(f.store, f.prefix, APP);
    expect(history.map((r) => `${r.version}:${r.outcome}`)).toEqual(['1.0:succeeded', '2.0:succeeded']);
    const listed = await finished(pp([...storeArgs(f), 'deploy', 'history', APP]));
    expect(listed.stdout).toMatch(/1\.0 → 2\.0\s+6\s+strict\s+succeeded/);
    if (TRANSCRIPT) await appendFile(TRANSCRIPT, `$ pp deploy history hello\n${listed.stdout}\n`);
  }, 600_000);

  it('strict: a broken version stops after the one node that tried it, which rolled back; exit 7', async () => {
    const f = await fleetOn1(6);
    const broken = await f.writeSpec('v2.json', await f.artifact('2.0', { unhealthy: true }), { maxParallel: 1, maxFailures: 1 });
    const run = await finished(pp([...storeArgs(f), 'deploy', APP, '--file', broken, '--all', '--yes']));
    if (TRANSCRIPT) await appendFile(TRANSCRIPT, `$ pp deploy hello --file broken.json --all --yes\n${run.transcript}exit ${run.code}\n\n`);
    expect(run.code, run.transcript + (await describeFleet(f)())).toBe(7);
    const verdicts = await readVerdicts(f.store, f.prefix, APP);
    expect(verdicts).toHaveLength(1);
    expect(run.stdout).toContain(`${verdicts[0]!.node}: failed: flipped, failed its health check, rolled back`);
    expect(await f.answers()).toEqual(names(f).map(() => '1.0'));
    expect((await readDeployments(f.store, f.prefix, APP)).at(-1)?.outcome).toBe('failed');
  }, 600_000);

  it("--auto-revert: a broken version is taken out of every node's intent again, every node runs 1.0", async () => {
    const f = await fleetOn1(4);
    const before = await Promise.all(f.nodes.map((n) => f.store.get(appIntentKey(f.prefix, n.name, APP))));
    const broken = await f.writeSpec('v2.json', await f.artifact('2.0', { unhealthy: true }), { maxParallel: 1, maxFailures: 1 });
    const run = await finished(
      pp([...storeArgs(f), 'deploy', APP, '--file', broken, '--nodes', names(f).join(','), '--yes', '--auto-revert', '--json']),
    );
    expect(run.code, run.transcript + (await describeFleet(f)())).toBe(7);
    const report = JSON.parse(run.stdout) as { outcome: string; flipped: string[] };
    expect(report.outcome).toBe('reverted');
    expect(report.flipped).toHaveLength(4);
    expect(await Promise.all(f.nodes.map((n) => f.store.get(appIntentKey(f.prefix, n.name, APP))))).toEqual(before);
    await until(
      'every node to report 1.0 converged',
      async () => (await Promise.all(f.nodes.map((n) => f.reality(n)))).every((r) => r?.status === 'converged' && r.version === '1.0'),
      describeFleet(f),
    );
    expect(await f.answers()).toEqual(names(f).map(() => '1.0'));
  }, 600_000);

  it('--continue-on-error: follows every node to its end, the failed one and those refusing by its verdict; exit 7', async () => {
    const f = await fleetOn1(3);
    const broken = await f.writeSpec('v2.json', await f.artifact('2.0', { unhealthy: true }), { maxParallel: 1, maxFailures: 1 });
    const run = await finished(pp([...storeArgs(f), 'deploy', APP, '--file', broken, '--all', '--yes', '--continue-on-error', '--json']));
    expect(run.code, run.transcript + (await describeFleet(f)())).toBe(7);
    const report = JSON.parse(run.stdout) as { outcome: string; result: Record<string, string> };
    expect(report.outcome).toBe('failed');
    const results = Object.values(report.result);
    expect(results.filter((r) => r.startsWith('failed: flipped, failed its health check, rolled back'))).toHaveLength(1);
    expect(results.filter((r) => /failed: .*failed its health check on 1 node .*not tried here/.test(r))).toHaveLength(2);
    expect(await f.answers()).toEqual(names(f).map(() => '1.0'));
  }, 600_000);
});

describe('pp deploy killed mid-way', () => {
  it('SIGKILLed during staging: resume stages and flips the rest from its record; rollback then deploys 1.0 again', async () => {
    const f = await DeployFleet.start(consul(), prefixOf(), 4);
    fleet = f;
    f.startAgents();
    const v1 = await f.writeSpec('v1.json', await f.artifact('1.0'));
    const install = await finished(pp([...storeArgs(f), 'deploy', APP, '--file', v1, '--nodes', names(f).join(','), '--yes']));
    expect(install.code, install.transcript + (await describeFleet(f)())).toBe(0);

    // The preparers are stopped (SIGSTOP), so staging cannot finish before the kill.
    const preparers = f.nodes.map((n) => n.agents[0]!);
    for (const p of preparers) p.kill('SIGSTOP');
    const v2 = await f.writeSpec('v2.json', await f.artifact('2.0'));
    // An hour's --lock-ttl: the resume below cannot owe the lock to the session's expiry.
    const deploy = pp([...storeArgs(f), 'deploy', APP, '--file', v2, '--all', '--yes', '--lock-ttl', '3600']);
    await until(
      'the deploy to stage 2.0',
      async () => deploy.stderr.includes('staged 2.0 on 4 node(s)'),
      async () => deploy.transcript,
      120_000,
    );
    deploy.child.kill('SIGKILL');
    await deploy.done;
    for (const p of preparers) p.kill('SIGCONT');
    const [interrupted] = (await readDeployments(f.store, f.prefix, APP)).slice(-1);
    expect(interrupted).toMatchObject({ version: '2.0', outcome: 'running', phase: 'staging' });

    // The killed deploy's session outlives it, but its process is gone from this host: resume takes the lock over.
    expect(JSON.parse((await f.store.get(deployLockKey(f.prefix, APP)))!)).toMatchObject({ pid: deploy.child.pid });
    const resume = await finished(pp([...storeArgs(f), 'deploy', 'resume', APP]));
    if (TRANSCRIPT)
      await appendFile(
        TRANSCRIPT,
        `$ pp deploy resume hello   # after a SIGKILL during staging\n${resume.transcript}exit ${resume.code}\n\n`,
      );
    expect(resume.code, resume.transcript + (await describeFleet(f)())).toBe(0);
    expect(resume.stderr).toContain(
      `took over the deploy lock ${deployLockKey(f.prefix, APP)} from a dead holder: ${interrupted!.user} on ${interrupted!.host} (pid ${deploy.child.pid}) since `,
    );
    expect(resume.stderr).toContain(`resuming deploy ${interrupted!.id} (running in its staging phase)`);
    expect(await f.answers()).toEqual(names(f).map(() => '2.0'));
    expect((await readDeployments(f.store, f.prefix, APP)).at(-1)).toMatchObject({ resumes: interrupted!.id, outcome: 'succeeded' });

    const rollback = await finished(pp([...storeArgs(f), 'rollback', APP, '--yes']));
    if (TRANSCRIPT) await appendFile(TRANSCRIPT, `$ pp rollback hello --yes\n${rollback.transcript}exit ${rollback.code}\n\n`);
    expect(rollback.code, rollback.transcript + (await describeFleet(f)())).toBe(0);
    expect(rollback.stdout).toContain('4 nodes: 4 flip hello 2.0 → 1.0');
    expect(await f.answers()).toEqual(names(f).map(() => '1.0'));
  }, 600_000);
});

describe('pp deploy confirmation', () => {
  async function storeWith1(): Promise<{ args: string[]; spec: string; prefix: string; f: DeployFleet }> {
    const f = await DeployFleet.start(consul(), prefixOf(), 2);
    fleet = f;
    const v1 = await f.writeSpec('v1.json', await f.artifact('1.0'));
    expect((await finished(pp([...storeArgs(f), 'intent', 'put', 'web1,web2', APP, '--file', v1]))).code).toBe(0);
    return { args: storeArgs(f), spec: await f.writeSpec('v2.json', await f.artifact('2.0')), prefix: f.prefix, f };
  }

  it('without a terminal and without --yes: prints the plan, refuses with exit 2, writes nothing', async () => {
    const { args, spec, f } = await storeWith1();
    const before = await f.store.read(`${f.prefix}/`);
    const run = await finished(pp([...args, 'deploy', APP, '--file', spec, '--all']));
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('2 nodes: 2 flip hello 1.0 → 2.0');
    expect(run.stderr).toContain('no terminal to confirm on: pass --yes');
    expect((await f.store.read(`${f.prefix}/`)).entries).toEqual(before.entries);
  }, 120_000);

  /** Runs pp on a new pseudo-terminal (script(1) relays our stdin to it) and answers `answer` at the prompt. */
  async function onTerminal(argv: string[], answer: string): Promise<{ code: number; out: string }> {
    const command = [process.execPath, distProgram('pp/index.js'), ...argv].map((w) => `'${w}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let answered = false;
    child.stdout.on('data', (d) => {
      out += String(d);
      if (!answered && out.includes('[y/N]')) {
        answered = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    return { code, out };
  }

  it('on a real pseudo-terminal: asks; "n" writes nothing (exit 10), "y" stages and redraws its progress table', async () => {
    const { args, spec, f } = await storeWith1();
    const before = await f.store.read(`${f.prefix}/`);
    const no = await onTerminal([...args, 'deploy', APP, '--file', spec, '--all'], 'n');
    expect(no.out).toContain('Deploy hello 2.0 to 2 node(s)? [y/N]');
    expect(no.out).toContain('not confirmed: nothing written');
    expect(no.code).toBe(10);
    expect((await f.store.read(`${f.prefix}/`)).entries).toEqual(before.entries);
    // No agent runs here: staging cannot finish, and --timeout ends the deploy once the intent is staged.
    const yes = await onTerminal([...args, 'deploy', APP, '--file', spec, '--all', '--timeout', '3'], 'y');
    expect(yes.code, yes.out).toBe(8);
    expect(yes.out).toContain('staged 2.0 on 2 node(s)');
    expect(yes.out).toMatch(/\x1b\[3F\x1b\[J\[ +[\d.]+ s\] stage: prepared 0\/2/);
    const intent = JSON.parse((await f.store.get(appIntentKey(f.prefix, 'web1', APP)))!) as {
      versions: Array<{ version: string; state: string }>;
    };
    expect(intent.versions.map((v) => `${v.version}:${v.state}`)).toEqual(['1.0:live', '2.0:prepared']);
  }, 120_000);
});

describe('pp deploy on the folder store, with no agent running', () => {
  it('holds the lock with its process: a second deploy is refused, a SIGKILLed holder frees it; --timeout exits 8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pp-deploy-store-'));
    try {
      const args = ['--store', `folder:${dir}/store`, '--prefix', 'p'];
      const spec = join(dir, 'v1.json');
      const intent = {
        schema: 1,
        basedir: '/srv/hello',
        versions: [{ version: '1.0', url: 'file:///nowhere/h.tar.gz', sha256: 'b'.repeat(64), state: 'live' }],
        service: { command: ['bin/x'] },
      };
      await writeFile(spec, JSON.stringify(intent));
      // No preparer runs, so staging never ends: the first deploy holds the lock until it is killed.
      const first = pp([...args, 'deploy', APP, '--file', spec, '--nodes', 'web1,web2', '--yes']);
      await until(
        'the first deploy to stage',
        async () => first.stderr.includes('staged 1.0 on 2 node(s)'),
        async () => first.transcript,
        60_000,
      );
      const second = await finished(pp([...args, 'deploy', APP, '--file', spec, '--all', '--yes']));
      expect(second.code, second.stderr).toBe(6);
      expect(second.stderr).toContain(`(pid ${first.child.pid}) since `);
      expect(second.stderr).toContain('holds p/locks/hello/deploy; the lock frees itself as soon as that process ends');
      first.child.kill('SIGKILL');
      await first.done;
      const third = await finished(pp([...args, 'deploy', APP, '--file', spec, '--all', '--yes', '--timeout', '2']));
      expect(third.code, third.transcript).toBe(8);
      expect(third.stderr).toContain(`took over the deploy lock p/locks/hello/deploy from a dead holder: `);
      expect(third.stderr).toContain(`(pid ${first.child.pid}) since `);
      expect(third.stdout).toMatch(
        /timed-out after [\d.]+ s: 0\/2 live on 1\.0\n {2}--timeout 2 s reached during stage; still open: web1 \(no preparer report yet\)/,
      );
      const follow = await finished(pp([...args, 'deploy', 'follow', APP, '--timeout', '1']));
      expect(follow.code, follow.transcript).toBe(8);
      const history = await finished(pp([...args, 'deploy', 'history', APP]));
      expect(
        history.stdout
          .split('\n')
          .filter((l) => l.includes('→ 1.0'))
          .map((l) => l.trim().split(/\s+/).at(-1)),
      ).toEqual(['running', 'timed-out']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
