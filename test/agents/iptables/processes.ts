import { spawn, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../../shared/backoff.js';

/** The built agent (npm test runs tsc first). */
export const AGENT_JS = join(process.cwd(), 'dist/agents/iptables/index.js');

/** Starts the agent in its own process group so a SIGKILL takes its children (iptables-restore, scripts) too. */
export function startAgent(args: string[]): ChildProcess {
  return spawn(process.execPath, [AGENT_JS, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for the process to end; returns its exit code (null when killed by a signal). */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Runs the agent to completion; returns exit code and output. */
export async function runAgentProcess(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = startAgent(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await exited(child);
  return { code, stdout, stderr };
}

/** SIGKILLs the agent and everything it started, then waits for it to be gone. */
export async function killGroup(child: ChildProcess): Promise<void> {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
  await exited(child);
}

/** Polls until `path` exists; fails after `limitMs` with a clear message. */
export async function waitForFile(path: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (
    !(await access(path).then(
      () => true,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${limitMs} ms`);
    await sleep(25);
  }
}
