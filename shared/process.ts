import { spawn } from 'node:child_process';

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

// Enough for any iptables-save or sv output we read; a runaway program cannot grow our heap without bound.
const OUTPUT_LIMIT = 16 << 20;
const KILL_GRACE_MS = 2000;

function collector() {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add(chunk: Buffer) {
      if (size >= OUTPUT_LIMIT) return;
      chunks.push(chunk);
      size += chunk.length;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

/**
 * Runs `argv` (after `options.prefix`) with `options.input` on stdin and returns its exit code and output.
 * Throws only when the program cannot be started, is killed by a signal or times out; a non-zero exit is returned.
 */
export function runCommand(argv: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const full = [...(options.prefix ?? []), ...argv];
  const [file, ...args] = full;
  if (!file) return Promise.reject(new Error('runCommand: empty command'));
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out = collector();
    const err = collector();
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, timeoutMs);
    const done = () => { clearTimeout(timer); clearTimeout(killer); };
    child.stdout?.on('data', out.add);
    child.stderr?.on('data', err.add);
    child.stdin?.on('error', () => {}); // EPIPE when the program exits without reading its input: its exit code tells
    child.stdin?.end(options.input);
    child.once('error', (e) => { done(); reject(new Error(`cannot run ${full.join(' ')}: ${e.message}`)); });
    child.once('close', (code, signal) => {
      done();
      if (timedOut) return reject(new Error(`cannot run ${full.join(' ')}: timed out after ${timeoutMs} ms`));
      if (code === null) return reject(new Error(`cannot run ${full.join(' ')}: killed by ${signal}`));
      resolve({ exitCode: code, stdout: out.text(), stderr: err.text() });
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
