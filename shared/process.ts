import { execa } from 'execa';

/** Result of an external command: exit code and captured output (never throws on a non-zero exit). */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` (after an optional `prefix`, e.g. ['ip', 'netns', 'exec', 'ns1']) with `input` on stdin.
 * Throws only when the program cannot be started or times out; a non-zero exit is returned.
 */
export async function runCommand(argv: string[], options: { prefix?: string[]; input?: string; timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {}): Promise<CommandResult> {
  const full = [...(options.prefix ?? []), ...argv];
  const [file, ...args] = full;
  if (!file) throw new Error('runCommand: empty command');
  const result = await execa(file, args, {
    input: options.input,
    timeout: options.timeoutMs ?? 60_000,
    cwd: options.cwd,
    env: options.env,
    reject: false,
    stripFinalNewline: false,
  });
  if (result.failed && result.exitCode === undefined) {
    throw new Error(`cannot run ${full.join(' ')}: ${result.shortMessage ?? result.message}`);
  }
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/** Runs `argv` and throws an error naming the command, its exit code and stderr when it does not exit 0. */
export async function runChecked(argv: string[], options: Parameters<typeof runCommand>[1] = {}): Promise<string> {
  const result = await runCommand(argv, options);
  if (result.exitCode !== 0) {
    const shown = [...(options.prefix ?? []), ...argv].join(' ');
    throw new Error(`${shown} exited ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}
