import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { REPO } from './repo.js';

/** Path of a built program under dist/ (npm test builds before running vitest). */
export function distProgram(relative: string): string {
  return resolve(REPO, 'dist', relative);
}

/** Runs a built CLI with `args` (and `input` on stdin); resolves with its exit code and output. */
export function runCli(
  relative: string,
  args: string[],
  input?: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [distProgram(relative), ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** A built CLI started by startCli: its output so far, and `done` once it has exited. */
export interface RunningCli {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** The exit code, or the signal that ended it. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a built CLI with `args`; `input` is written to its stdin, which stays open unless `endInput`. */
export function startCli(relative: string, args: string[], input = '', endInput = true): RunningCli {
  const child = spawn(process.execPath, [distProgram(relative), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const run: RunningCli = {
    child,
    stdout: '',
    stderr: '',
    done: new Promise((resolvePromise) => child.on('exit', (code, signal) => resolvePromise({ code, signal }))),
  };
  child.stdout!.on('data', (d) => {
    run.stdout += String(d);
  });
  child.stderr!.on('data', (d) => {
    run.stderr += String(d);
  });
  if (endInput) child.stdin!.end(input);
  else child.stdin!.write(input);
  return run;
}
