import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRunsvCommand } from '../../../agents/setlive/runsv-control.js';
import { decodeRunsvStatus, readRunsvStatus, type SvStatus } from '../../../agents/setlive/runsv-status.js';
import { runChecked } from '../../../shared/process.js';
import { sleepService, startRunsv, stopEverythingUnder } from '../../support/runit.js';

/** A status record as runsv writes it: TAI64N of the last change, pid LE, paused, want, got TERM, state. */
function record(sinceMs: number, pid: number, want: string, state: number, term = 0): Buffer {
  const raw = Buffer.alloc(20);
  raw.writeBigUInt64BE((1n << 62n) + 10n + BigInt(Math.floor(sinceMs / 1000)), 0);
  raw.writeUInt32BE((sinceMs % 1000) * 1e6, 8);
  raw.writeUInt32LE(pid, 12);
  raw[17] = want.charCodeAt(0);
  raw[18] = term;
  raw[19] = state;
  return raw;
}

describe('decodeRunsvStatus', () => {
  const now = 1_700_000_007_250;
  it('reads state, pid, start time and the want flags as sv status shows them', () => {
    expect(decodeRunsvStatus(record(now - 7250, 123, 'u', 1), '/s/web', now)).toEqual({
      state: 'run',
      pid: 123,
      seconds: 7,
      sinceMs: now - 7250,
      wantUp: false,
      wantDown: false,
      text: 'run: /s/web: (pid 123) 7s',
    });
    expect(decodeRunsvStatus(record(now - 1000, 0, 'u', 0), '/s/web', now)).toMatchObject({
      state: 'down',
      pid: undefined,
      wantUp: true,
      text: 'down: /s/web: 1s, want up',
    });
    expect(decodeRunsvStatus(record(now, 9, 'd', 1, 1), '/s/web', now)).toMatchObject({
      state: 'run',
      wantDown: true,
      text: 'run: /s/web: (pid 9) 0s, want down, got TERM',
    });
    expect(decodeRunsvStatus(record(now, 9, 'u', 2), '/s/web', now).state).toBe('finish');
  });

  it('treats a short or unknown record as not supervised, saying why', () => {
    expect(decodeRunsvStatus(Buffer.alloc(5), '/s/web').text).toBe('fail: /s/web: supervise/status has 5 bytes, expected 20');
    expect(decodeRunsvStatus(record(0, 0, 'd', 7), '/s/web').state).toBe('unsupervised');
  });
});

describe('readRunsvStatus against a real runsv', () => {
  let root: string;
  let dir: string;
  let runsv: ChildProcess;
  const until = async (want: (s: SvStatus) => boolean): Promise<SvStatus> => {
    for (let i = 0; i < 500; i += 1) {
      const s = await readRunsvStatus(dir);
      if (want(s)) return s;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`status never matched: ${(await readRunsvStatus(dir)).text}`);
  };

  beforeAll(async () => {
    ({ root, dir } = await sleepService('runsv-status'));
  });
  afterAll(async () => {
    await stopEverythingUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('says unsupervised before runsv runs, then agrees with sv through a run and a stop', async () => {
    expect((await readRunsvStatus(dir)).text).toMatch(/^fail: .*unable to open supervise\/ok: ENOENT/);
    runsv = (await startRunsv(dir)).child;
    const running = await until((s) => s.state === 'run');
    expect((await runChecked(['sv', 'status', dir])).startsWith(`run: ${dir}: (pid ${running.pid}) `)).toBe(true);
    expect(Date.now() - running.sinceMs!).toBeLessThan(60_000);
    await runChecked(['sv', 'down', dir]);
    const down = await until((s) => s.state === 'down');
    expect(down.pid).toBeUndefined();
    expect((await runChecked(['sv', 'status', dir])).startsWith(`down: ${dir}: `)).toBe(true);
    const gone = new Promise((r) => runsv.once('exit', r));
    runsv.kill('SIGKILL');
    await gone;
    expect((await readRunsvStatus(dir)).text).toBe(`fail: ${dir}: runsv not running`);
  });

  it('controls runsv through its FIFO as sv does, and says when no runsv reads it', async () => {
    runsv = (await startRunsv(dir)).child;
    const first = await until((s) => s.state === 'run');
    expect(await sendRunsvCommand(dir, 'down')).toBe(true);
    await until((s) => s.state === 'down');
    expect((await runChecked(['sv', 'status', dir])).startsWith(`down: ${dir}: `)).toBe(true);
    expect(await sendRunsvCommand(dir, 'up')).toBe(true);
    const again = await until((s) => s.state === 'run');
    expect(again.pid).not.toBe(first.pid);
    await sendRunsvCommand(dir, 'down');
    await until((s) => s.state === 'down');
    const gone = new Promise((r) => runsv.once('exit', r));
    expect(await sendRunsvCommand(dir, 'exit')).toBe(true);
    await gone;
    expect(await sendRunsvCommand(dir, 'up')).toBe(false);
    expect(await sendRunsvCommand(join(root, 'never-supervised'), 'down')).toBe(false);
  });
});
