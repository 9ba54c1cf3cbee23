import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownStartTime, processAlive, processStartTime } from '../../shared/process-liveness.js';

/** The pid of a child that has exited (and been reaped), so nothing runs under it for now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((done) => child.once('exit', done));
  return child.pid!;
}

describe('processAlive', () => {
  it('knows this process by its pid and start time, and a pid with another start time as another process', () => {
    const start = ownStartTime();
    expect(start).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(start);
    expect(processAlive(process.pid, start)).toBe(true);
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(process.pid, String(Number(start) + 1))).toBe(false);
  });

  it('reads the start time after a command name with spaces and parentheses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pp-liveness-'));
    const odd = join(dir, 'a) b (c');
    await symlink(execFileSync('/bin/sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim(), odd);
    const child = spawn(odd, ['30'], { stdio: 'ignore' });
    try {
      await new Promise((ok) => child.once('spawn', ok));
      expect(await readFile(`/proc/${child.pid}/stat`, 'utf8')).toContain('(a) b (c)');
      const start = processStartTime(child.pid!);
      expect(start).toMatch(/^\d+$/);
      expect(Number(start)).toBeGreaterThanOrEqual(Number(ownStartTime()));
      expect(processAlive(child.pid!, start)).toBe(true);
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says a gone process is gone, with or without a start time, and refuses pids that name no process', async () => {
    const pid = await deadPid();
    expect(processStartTime(pid)).toBeUndefined();
    expect(processAlive(pid)).toBe(false);
    expect(processAlive(pid, '12345')).toBe(false);
    for (const bad of [0, -1, Number.NaN, 1.5]) expect(processAlive(bad)).toBe(false);
  });
});
