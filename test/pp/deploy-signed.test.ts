import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeployments } from '../../pp/deploy/record.js';
import { appIntentKey, heartbeatKey } from '../../shared/keys.js';
import { parseHeartbeat } from '../../shared/loop/heartbeat.js';
import { readStoredValue } from '../../shared/trust/envelope.js';
import { eventually } from '../support/intent-fixtures.js';
import { distProgram, runCli } from '../support/run-cli.js';
import { makeSshKey, type SshKey } from '../support/ssh-keys.js';
import { APP, DeployFleet } from '../system/support/deploy-fleet.js';

let root: string;
let alice: SshKey;
let signers: string;
/** ssh-keygen on pp's PATH: the real one, counting its runs in `runs`. */
let bin: string;
let runs: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pp-deploy-signed-'));
  alice = makeSshKey(root, 'alice');
  signers = join(root, 'allowed_signers');
  writeFileSync(signers, `alice@example ${alice.publicKey}\n`);
  bin = join(root, 'bin');
  runs = join(root, 'ssh-keygen-runs');
  mkdirSync(bin);
  const real = execFileSync('sh', ['-c', 'command -v ssh-keygen'], { encoding: 'utf8' }).trim();
  writeFileSync(join(bin, 'ssh-keygen'), `#!/bin/sh\necho run >> '${runs}'\nexec '${real}' "$@"\n`);
  chmodSync(join(bin, 'ssh-keygen'), 0o755);
});
afterAll(() => rm(root, { recursive: true, force: true, maxRetries: 3 }));

/** ssh-keygen runs since the last call. */
function signings(): number {
  let text = '';
  try {
    text = readFileSync(runs, 'utf8');
  } catch {
    // none yet
  }
  writeFileSync(runs, '');
  return text.split('\n').filter(Boolean).length;
}

const env = () => ({ PATH: `${bin}:${process.env.PATH}` });

describe('pp deploy, resume and rollback to real pp-preparer and pp-setlive run with --trusted-signers (folder store)', () => {
  it('refuse unsigned intent naming node and agents and write nothing; with --sign-key they converge, one ssh-keygen run per distinct value', async () => {
    const f = await DeployFleet.start(`folder:${join(root, 'store')}`, 'p', 2);
    const pp = (...args: string[]) => runCli('pp/index.js', ['--store', f.storeSpec, '--prefix', f.prefix, ...args], '', env());
    // A --timeout far below the default, so a deploy that cannot converge fails this test soon.
    const signed = ['--sign-key', alice.path, '--timeout', '60'];
    const describeFleet = async () => JSON.stringify(await Promise.all(f.nodes.map((n) => f.reality(n)))) + (await f.logs());
    try {
      const agentFlags = ['--trusted-signers', signers, '--heartbeat-seconds', '5'];
      f.startAgents(agentFlags);
      await eventually(
        async () => {
          const beats = await Promise.all(
            f.nodes.flatMap((n) => ['preparer', 'setlive'].map((a) => f.store.get(heartbeatKey(f.prefix, n.name, a)))),
          );
          return beats.every((b) => parseHeartbeat(b ?? '')?.requiresSignatures === true);
        },
        30_000,
        'every agent to say in its heartbeat that it requires signatures',
      );
      const v1 = await f.writeSpec('v1.json', await f.artifact('1.0'));
      const v2 = await f.writeSpec('v2.json', await f.artifact('2.0'));
      const refusal =
        'refused to write unsigned intent to node web1 (agents preparer, setlive), node web2 (agents preparer, setlive): their heartbeats say they run with --trusted-signers and act only on signed intent; sign it with --sign-key KEY (nothing written)';

      // Unsigned: refused before the lock, the record or any write.
      const unsigned = await pp('deploy', APP, '--file', v1, '--nodes', 'web1,web2', '--yes', '--timeout', '30');
      expect(unsigned.code, unsigned.stderr).toBe(2);
      expect(unsigned.stderr).toBe(`pp: ${refusal}\n`);
      expect((await f.store.read(`${f.prefix}/intent/`)).entries).toEqual([]);
      expect(await readDeployments(f.store, f.prefix, APP)).toEqual([]);
      expect((await pp('intent', 'put', 'web1', APP, '--file', v1)).stderr).toContain('refused to write unsigned intent to node web1');
      expect(signings()).toBe(0);

      // Signed: one envelope for both nodes when staging, one when flipping.
      const first = await pp('deploy', APP, '--file', v1, '--nodes', 'web1,web2', '--yes', ...signed);
      expect(first.code, first.stdout + first.stderr + (await describeFleet())).toBe(0);
      expect(first.stdout).toContain('2 nodes: 2 first install');
      expect(signings()).toBe(2);
      expect(await f.answers()).toEqual(['1.0', '1.0']);
      for (const n of f.nodes) {
        const stored = readStoredValue((await f.store.get(appIntentKey(f.prefix, n.name, APP)))!);
        expect(stored.form === 'signed' && stored.order).toMatchObject({ kind: 'intent', prefix: 'p', nodes: ['web1', 'web2'] });
        // The agent accepted the signed order: it says by whom.
        expect(await f.reality(n)).toMatchObject({
          status: 'converged',
          version: '1.0',
          signed: { by: expect.stringMatching(/^alice@example /) },
        });
      }

      // Killed while staging 2.0 (the preparers are down, so staging cannot end first). Killed, not stopped: a
      // stopped preparer may hold the folder store's lock, which only a dead holder's breaks.
      for (const n of f.nodes) await n.agents.find((a) => a.agent === 'preparer')!.stop('SIGKILL');
      const killed = spawn(
        process.execPath,
        [
          distProgram('pp/index.js'),
          '--store',
          f.storeSpec,
          '--prefix',
          f.prefix,
          'deploy',
          APP,
          '--file',
          v2,
          '--all',
          '--yes',
          ...signed,
        ],
        { env: { ...process.env, ...env() }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      killed.stderr.on('data', (d) => {
        stderr += String(d);
      });
      const exited = new Promise((r) => killed.once('exit', r));
      await eventually(() => stderr.includes('staged 2.0 on 2 node(s)'), 90_000, 'the deploy to stage 2.0');
      killed.kill('SIGKILL');
      await exited;
      for (const n of f.nodes) f.startAgent(n, agentFlags, ['preparer']);
      expect(signings()).toBe(1);

      const unsignedResume = await pp('deploy', 'resume', APP, '--timeout', '30');
      expect(unsignedResume.code, unsignedResume.stderr).toBe(2);
      expect(unsignedResume.stderr).toContain(refusal);
      expect((await readDeployments(f.store, f.prefix, APP)).map((r) => r.outcome)).toEqual(['succeeded', 'running']);
      // The staged envelopes are read as the spec inside them, kept as they are, and only the flip is signed.
      const resume = await pp('deploy', 'resume', APP, ...signed);
      expect(resume.code, resume.stdout + resume.stderr + (await describeFleet())).toBe(0);
      expect(resume.stdout).toContain('2 nodes: 2 flip hello 1.0 → 2.0');
      expect(signings()).toBe(1);
      expect(await f.answers()).toEqual(['2.0', '2.0']);

      const unsignedRollback = await pp('rollback', APP, '--yes', '--timeout', '30');
      expect(unsignedRollback.code, unsignedRollback.stderr).toBe(2);
      expect(unsignedRollback.stderr).toContain(refusal);
      const rollback = await pp('rollback', APP, '--yes', ...signed);
      expect(rollback.code, rollback.stdout + rollback.stderr + (await describeFleet())).toBe(0);
      expect(rollback.stdout).toContain('2 nodes: 2 flip hello 2.0 → 1.0');
      expect(signings()).toBe(1);
      expect(await f.answers()).toEqual(['1.0', '1.0']);
      for (const n of f.nodes) expect(await f.reality(n)).toMatchObject({ status: 'converged', version: '1.0' });

      // --auto-revert signs the intent it found again, now: the agents refuse an order older than the flip's.
      const broken = await f.writeSpec('v3.json', await f.artifact('3.0', { unhealthy: true }), { maxParallel: 1, maxFailures: 1 });
      const revert = await pp('deploy', APP, '--file', broken, '--all', '--yes', '--auto-revert', '--json', ...signed);
      expect(revert.code, revert.stdout + revert.stderr + (await describeFleet())).toBe(7);
      expect(JSON.parse(revert.stdout)).toMatchObject({ outcome: 'reverted' });
      expect(signings()).toBe(3);
      await eventually(
        async () => (await Promise.all(f.nodes.map((n) => f.reality(n)))).every((r) => r?.status === 'converged' && r.version === '1.0'),
        30_000,
        'every node back on 1.0',
      );
      expect(await f.answers()).toEqual(['1.0', '1.0']);
    } finally {
      await f.stop();
    }
  }, 180_000);
});
