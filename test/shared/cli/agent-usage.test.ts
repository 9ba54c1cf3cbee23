import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentNames } from '../../../shared/agent-list.js';
import { runCli } from '../../support/run-cli.js';

// Each agent's own flag and a bad value of one, as the built program sees them; usage errors exit before any
// store is opened. An agent not described here is still checked for the shared flags.
const OWN: Record<string, { own: string; bad: string[]; message: string }> = {
  preparer: { own: '--max-bytes', bad: ['--keep', 'many'], message: '--keep: expected a number, got "many"' },
  iptables: { own: '--refresh-command', bad: ['--mode', 'nft'], message: '--mode: expected one of native, port-authority, got "nft"' },
  setlive: { own: '--service-dir', bad: ['--settle-seconds=-1'], message: '--settle-seconds: expected a number of seconds >= 0, got -1' },
};
const SHARED_BAD = { bad: ['--wait-seconds', '0'], message: '--wait-seconds 0: expected 1..600 (Consul caps the wait at 10 minutes)' };
const AGENTS = agentNames().map((a) => ({ name: `pp-${a}`, program: `agents/${a}/index.js`, own: OWN[a]?.own, ...(OWN[a] ?? SHARED_BAD) }));

describe('agent command lines', () => {
  for (const a of AGENTS) {
    it(`${a.name}: --help lists shared and own flags; bad input exits 2 with the flag named`, async () => {
      const help = await runCli(a.program, ['--help']);
      expect(help.code).toBe(0);
      for (const flag of [
        '--store',
        '--prefix',
        '--node',
        '--once',
        '--dry-run',
        '--log-level',
        '--wait-seconds',
        ...(a.own ? [a.own] : []),
      ])
        expect(help.stdout).toContain(flag);
      expect(help.stdout).not.toContain('--test-sigkill-after-actions');
      const bad = await runCli(a.program, [...a.bad, '--store', 'folder:/nonexistent']);
      expect(bad).toMatchObject({ code: 2, stderr: `${a.name}: ${a.message}\nRun ${a.name} --help for usage.\n` });
      for (const args of [['--bogus'], ['--once', 'now'], ['--store'], ['--wait-seconds', '0']]) {
        expect((await runCli(a.program, args)).code).toBe(2);
      }
    });
  }

  it('pp-setlive still accepts the --sv of older args files, says it is ignored, and runs', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-sv-flag-'));
    try {
      const r = await runCli('agents/setlive/index.js', [
        '--sv',
        '/usr/bin/sv',
        '--once',
        '--dry-run',
        '--store',
        `folder:${root}/store`,
        '--service-dir',
        join(root, 'service'),
        '--stage-dir',
        join(root, 'stage'),
      ]);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('--sv is deprecated and ignored');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('every program prints its name and the package version for --version', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    for (const [name, program] of [['pp', 'pp/index.js'], ...AGENTS.map((a) => [a.name, a.program])] as const) {
      expect(await runCli(program, ['--version'])).toMatchObject({ code: 0, stdout: `${name} ${version}\n` });
    }
  });
});
