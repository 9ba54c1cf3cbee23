import { spawn, type ChildProcess } from 'node:child_process';

/** Result of an external command: exit code and captured output (never throws on a non-zero exit). */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Put before argv, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  prefix?: string[];
  /** Written to stdin; without it stdin is /dev/null, so a program that reads it never waits on us. */
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

// Far beyond any iptables-save we read; more means something is wrong, and a cut table must never be parsed.
const OUTPUT_LIMIT = 16 << 20;
const KILL_GRACE_MS = 2000;

/** Signals the command's whole process group (it runs detached, as a group leader), so a grandchild such as a
 * `sh -c` pipeline's member cannot outlive a timeout while it holds our pipes open. */
function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Gathers a child's stdout and stderr; calls `overflow` (once per chunk past it) when together they pass the limit. */
function collectOutput(child: ChildProcess, overflow: () => void) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  const into = (list: Buffer[]) => (chunk: Buffer) => {
    size += chunk.length;
    if (size > OUTPUT_LIMIT) overflow();
    else list.push(chunk);
  };
  child.stdout?.on('data', into(out));
  child.stderr?.on('data', into(err));
  return { stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => Buffer.concat(err).toString('utf8') };
}

/** Spawns argv as the leader of a new process group, stdin from `input` or /dev/null. */
function start(file: string, args: string[], options: CommandOptions): ChildProcess {
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdin?.on('error', () => {}); // EPIPE when the program exits without reading its input: its exit code tells
  child.stdin?.end(options.input);
  return child;
}

/**
 * Runs `argv` (after `options.prefix`) with `options.input` on stdin and returns its exit code and output.
 * Throws only when the program cannot be started, is killed by a signal, times out (its whole process group is
 * then killed) or writes more than 16 MB; a non-zero exit is returned.
 */
export function runCommand(argv: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const full = [...(options.prefix ?? []), ...argv];
  const [file, ...args] = full;
  if (!file) return Promise.reject(new Error('runCommand: empty command'));
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = start(file, args, options);
    let failure: string | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (failure || code === null) return reject(new Error(`cannot run ${full.join(' ')}: ${failure ?? `killed by ${signal}`}`));
      resolve({ exitCode: code, stdout: output.stdout(), stderr: output.stderr() });
    };
    const abandon = (why: string) => {
      if (failure) return;
      failure = why;
      killGroup(child.pid, 'SIGTERM');
      timers.push(
        setTimeout(() => {
          killGroup(child.pid, 'SIGKILL');
          finish(null, 'SIGKILL');
        }, KILL_GRACE_MS),
      );
    };
    const output = collectOutput(child, () => abandon(`wrote more than ${OUTPUT_LIMIT >> 20} MB of output`));
    timers.push(setTimeout(() => abandon(`timed out after ${timeoutMs} ms`), timeoutMs));
    child.once('error', (e) => {
      failure ??= e.message;
      finish(null, null);
    });
    child.once('close', finish);
    // Once given up on, the exit is enough: a grandchild may hold the pipes open, and 'close' would wait for it.
    child.once('exit', (code, signal) => {
      if (failure) finish(code, signal);
    });
  });
}

/** Runs `argv` and throws an error naming the command, its exit code and stderr when it does not exit 0. */
export async function runChecked(argv: string[], options: CommandOptions = {}): Promise<string> {
  const result = await runCommand(argv, options);
  if (result.exitCode !== 0) {
    const shown = [...(options.prefix ?? []), ...argv].join(' ');
    throw new Error(`${shown} exited ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}
