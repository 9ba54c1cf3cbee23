import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distProgram } from '../../support/run-cli.js';
import { eventually } from '../../support/intent-fixtures.js';

/** Starts pp-iptables (port_authority mode, so no root is needed) as a daemon and returns it with its stderr. */
async function startAgent() {
  const root = await mkdtemp(join(tmpdir(), 'pp-stop-'));
  const child = spawn(
    process.execPath,
    [
      distProgram('agents/iptables/index.js'),
      '--mode',
      'port-authority',
      '--config-dir',
      join(root, 'pa'),
      '--refresh-command',
      'true',
      '--store',
      `folder:${join(root, 'store')}`,
      '--node',
      'n1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return { child, exited, stderr: () => stderr, root };
}

describe('an agent daemon and SIGTERM', () => {
  it('stops cleanly with exit 0 once running', async () => {
    const agent = await startAgent();
    await eventually(() => agent.stderr().includes('"action":"refuse"'), 20_000, 'first pass');
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(agent.stderr()).toContain('"action":"stop","signal":"SIGTERM"');
  });
});
