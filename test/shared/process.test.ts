import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../shared/process.js';

const node = process.execPath;

/** How many processes have exactly this NUL-separated command line (read from /proc: no tool needed). */
async function processesRunning(cmdline: string): Promise<number> {
  let n = 0;
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) === cmdline) n += 1;
  }
  return n;
}

describe('runCommand', () => {
  it('returns the exit code and both outputs, without throwing on a non-zero exit', async () => {
    const r = await runCommand([node, '-e', 'process.stdout.write("out\\n"); process.stderr.write("err"); process.exit(3)']);
    expect(r).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err' });
  });

  it('feeds input on stdin, and gives /dev/null when there is none', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the child evaluates this template, not the test
    const echo = [node, '-e', 'let s=""; process.stdin.on("data", d => s += d).on("end", () => process.stdout.write(`[${s}]`))'];
    expect((await runCommand(echo, { input: 'rules\n' })).stdout).toBe('[rules\n]');
    expect((await runCommand(echo)).stdout).toBe('[]');
  });

  it('runs after the prefix, in cwd, with env added to ours', async () => {
    const r = await runCommand(['-e', 'console.log(process.cwd(), process.env.PP_X, typeof process.env.PATH)'], {
      prefix: [node],
      cwd: '/tmp',
      env: { PP_X: 'y' },
    });
    expect(r.stdout).toBe('/tmp y string\n');
  });

  it('throws naming the command when it cannot start', async () => {
    await expect(runCommand(['/nonexistent/sv', 'status'])).rejects.toThrow(/cannot run \/nonexistent\/sv status: .*ENOENT/);
  });

  it('kills a program that outlives its timeout and says so', async () => {
    await expect(runCommand([node, '-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/);
  });

  it('stops waiting at the timeout even when a grandchild holds the output open, and kills it too', async () => {
    const started = Date.now();
    await expect(runCommand(['sh', '-c', 'sleep 31.7 & wait'], { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 100));
    expect(await processesRunning('sleep\0' + '31.7\0')).toBe(0);
  });

  it('refuses output beyond 16 MB rather than returning it cut', async () => {
    await expect(runCommand([node, '-e', 'process.stdout.write(Buffer.alloc(17 << 20, 120))'])).rejects.toThrow(
      /wrote more than 16 MB of output/,
    );
  });

  it('says which signal killed the program', async () => {
    await expect(runCommand(['sh', '-c', 'kill -9 $$'])).rejects.toThrow(/killed by SIGKILL/);
  });

  it('does not fail when the program exits without reading its input', async () => {
    const r = await runCommand([node, '-e', 'process.exit(0)'], { input: 'x'.repeat(1 << 20) });
    expect(r.exitCode).toBe(0);
  });
});

describe('runChecked', () => {
  it('returns stdout on exit 0 and throws with the exit code and stderr otherwise', async () => {
    expect(await runChecked([node, '-e', 'console.log("ok")'])).toBe('ok\n');
    await expect(runChecked([node, '-e', 'console.error("bad rule"); process.exit(1)'])).rejects.toThrow(/exited 1: bad rule/);
  });
});
