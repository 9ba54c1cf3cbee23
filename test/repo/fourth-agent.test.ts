// Adding an agent means adding its folder agents/<name>/ and one entry in agents/agents.json, nothing else: in a
// copy of this repository with a throw-away fourth agent, generated, built and installed the way an operator
// would, pp plan runs it, the runit installer writes its service folder (and runsv runs it from there), the
// demo's agent list (scripts/agent-names.sh, which scripts/demo.sh loops over) names it, and it passes the
// conformance suite every agent passes. Its logic is the tests' throw-away agent (test/support/file-agent.ts, one
// file per app), built as agents/files/agent.ts; its main is the few lines below: no other agent's code and no
// test helper of theirs.
import { execFile } from 'node:child_process';
import { access, constants, cp, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action, Agent } from '../../shared/loop/types.js';
import { conformance, tree } from '../support/conformance.js';
import { fileAgent } from '../support/file-agent.js';
import { appIntent, eventually } from '../support/intent-fixtures.js';
import { startRunsv } from '../support/runit.js';

const REPO = resolve(import.meta.dirname, '../..');
const exec = promisify(execFile);

/** The agent's logic: the throw-away agent, whose imports (shared/ only, two folders up) hold in agents/files/ too. */
const FILE_AGENT = join(REPO, 'test/support/file-agent.ts');

// The agent's main on the shared agent CLI: its one flag, and the agent named as its list entry is.
const MAIN = `#!/usr/bin/env node
import '../../shared/cli/stop-signal.js';
import { runAgentMain } from '../../shared/cli/agent-cli.js';
import { parseAgentArgs } from '../../shared/cli/agent-flags.js';
import { defineFlags } from '../../shared/cli/flags.js';
import { fileAgent } from './agent.js';

const args = parseAgentArgs('pp-files', { flags: defineFlags({ dir: { type: 'string', default: 'files', describe: 'where each app gets its file' } }) });
await runAgentMain('pp-files', args, () => ({ ...fileAgent(args.dir), name: 'files' }));
`;

let copy: string;

/** Runs a command in the copy; resolves with its output, rejects (with the output) when it exits non-zero. */
const sh = (file: string, args: string[]) => exec(file, args, { cwd: copy });
const pp = (...args: string[]) => sh(process.execPath, [join(copy, 'dist/pp/index.js'), ...args, '--store', `folder:${copy}/store`]);

beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), 'pp-fourth-agent-'));
  // The programs' sources, the scripts, deploy/.
  for (const path of ['agents', 'pp', 'shared', 'scripts', 'deploy', 'package.json', 'tsconfig.json']) {
    await cp(join(REPO, path), join(copy, path), { recursive: true });
  }
  await symlink(await realpath(join(REPO, 'node_modules')), join(copy, 'node_modules'));
  await mkdir(join(copy, 'agents/files'));
  await cp(FILE_AGENT, join(copy, 'agents/files/agent.ts'));
  await writeFile(join(copy, 'agents/files/index.ts'), MAIN);
  const list = JSON.parse(await readFile(join(copy, 'agents/agents.json'), 'utf8')) as { agents: object[] };
  // First in the list: every agent's port is its own entry's, so inserting one moves no other.
  list.agents.unshift({ name: 'files', summary: 'keeps a file per app holding its live version', metricsPort: 9470, everyNode: false });
  await writeFile(join(copy, 'agents/agents.json'), JSON.stringify(list, null, 2));
  await sh('npm', ['run', '--silent', 'generate']);
  await sh('npm', ['run', '--silent', 'build']);
  await writeFile(join(copy, 'hello.json'), JSON.stringify(appIntent('1.0.0', { basedir: join(copy, 'apps/hello') })));
  await pp('intent', 'put', 'n1', 'hello', '--file', join(copy, 'hello.json'));
}, 120_000);

afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

describe('a fourth agent, added as a folder and a list entry', () => {
  it('gets its bin entry and systemd unit from npm run generate', async () => {
    const pkg = JSON.parse(await readFile(join(copy, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['pp-files']).toBe('dist/agents/files/index.js');
    await access(join(copy, pkg.bin['pp-files']!), constants.R_OK);
    const unit = await readFile(join(copy, 'deploy/systemd/pp-files.service'), 'utf8');
    expect(unit).toContain('Description=Platypus pp-files: keeps a file per app holding its live version\n');
    expect(unit).toContain("ExecStart=/bin/sh -c 'exec pp-files $PLATYPUS_ARGS'\n");
    expect(unit).toContain('Environment=PLATYPUS_METRICS_ADDRESS=127.0.0.1:9470\n');
    const preparer = await readFile(join(copy, 'deploy/systemd/pp-preparer.service'), 'utf8');
    expect(preparer).toContain('Environment=PLATYPUS_METRICS_ADDRESS=127.0.0.1:9464\n');
  });

  it("is run by pp plan files --dry-run, which prints its plan for the node's intent", async () => {
    const plan = await pp('plan', 'files', '--node', 'n1', '--dry-run');
    expect(plan.stdout).toBe('hello@1.0.0: write hello=1.0.0\n');
    const json = JSON.parse((await pp('plan', 'pp-files', '--node', 'n1', '--json')).stdout) as {
      agent: string;
      apps: { app: string; actions: string[] }[];
    };
    expect(json).toMatchObject({ agent: 'files', apps: [{ app: 'hello', actions: ['write hello=1.0.0'] }] });
  });

  it('gets a runit service folder from deploy/runit/install.sh, from which runsv runs it', async () => {
    const sv = join(copy, 'sv');
    const { stdout } = await sh('sh', [
      join(copy, 'deploy/runit/install.sh'),
      sv,
      `PLATYPUS_STORE=folder:${copy}/store`,
      'PLATYPUS_NODE=n1',
      `PATH=${process.env.PATH}`,
      'PLATYPUS_METRICS_ADDRESS=', // off: the fixed port install.sh gives it may be taken on this machine
    ]);
    expect(stdout).toBe(`runit services written under ${sv}: pp-files pp-preparer pp-iptables pp-setlive\n`);
    const dir = join(sv, 'pp-files');
    expect(await readFile(join(dir, 'run'), 'utf8')).toBe(await readFile(join(REPO, 'deploy/runit/run'), 'utf8'));
    await access(join(dir, 'run'), constants.X_OK);
    await access(join(dir, 'log/run'), constants.X_OK);
    expect(await readFile(join(dir, 'env/PLATYPUS_STORE'), 'utf8')).toBe(`folder:${copy}/store\n`);

    // Run from its folder as runsvdir would, the agent converges hello and its reality shows in pp status.
    await writeFile(join(dir, 'bin'), `${process.execPath} ${join(copy, 'dist/agents/files/index.js')}\n`);
    await writeFile(join(dir, 'args'), `--dir\n${join(copy, 'files')}\n`);
    const runsv = await startRunsv(dir);
    try {
      await eventually(
        async () =>
          (JSON.parse((await pp('status', 'n1', '--json')).stdout) as { app: string; agents: Record<string, { status: string }> }[]).some(
            (r) => r.app === 'hello' && r.agents.files?.status === 'converged',
          ),
        20_000,
        'pp-files under runsv to report hello converged',
      );
      expect(await readFile(join(copy, 'files/hello'), 'utf8')).toBe('1.0.0');
    } finally {
      await runsv.stop();
    }
  });

  it("is in the demo's agent list", async () => {
    expect((await sh('sh', [join(copy, 'scripts/agent-names.sh')])).stdout).toBe('files preparer iptables setlive\n');
  });
});

// The kit's promises, on the fourth agent as on the others: its program is the copy's build.
conformance('files', {
  async make(root) {
    const dir = join(root, 'files');
    await mkdir(dir);
    return {
      agent: () => ({ ...fileAgent(dir), name: 'files' }) as unknown as Agent<unknown, Action>,
      intent: { web: JSON.stringify(appIntent('1.0')), api: JSON.stringify(appIntent('2.0')) },
      host: () => tree(dir, { root }),
      program: { path: join(copy, 'dist/agents/files/index.js'), args: ['--dir', dir] },
    };
  },
});
