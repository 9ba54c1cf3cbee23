import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SetliveConfig } from '../../../agents/setlive/options.js';
import { awaitHealthy, upAtLeastMs } from '../../../agents/setlive/health.js';
import { readRunsvStatus } from '../../../agents/setlive/runsv-status.js';
import { sleepService, startRunsv, type Runsv } from '../../support/runit.js';

let root: string;
let dir: string;
let runsv: Runsv;
const config = { settleMs: 0 } as SetliveConfig;

/** A check that records each time it runs (one line in `checks`), then passes or fails as told. */
const check = (ok: boolean) => ({ command: ['sh', '-c', `echo run >> ${join(root, 'checks')}; exit ${ok ? 0 : 1}`], timeoutMs: 1000 });
const checksRun = async () => (await readFile(join(root, 'checks'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

beforeAll(async () => {
  ({ root, dir } = await sleepService('health-wait'));
  runsv = await startRunsv(dir);
  // The waits below are about a process that has been up a while, as after an agent restart mid-wait.
  for (let i = 0; i < 1000 && upAtLeastMs(await readRunsvStatus(dir)) < 1500; i += 1) await new Promise((r) => setTimeout(r, 10));
});

afterAll(async () => {
  await runsv?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('awaitHealthy for a process already running when the wait begins', () => {
  it('counts its timeout from the process start: past it, one failing check ends the wait', async () => {
    expect(upAtLeastMs(await readRunsvStatus(dir))).toBeGreaterThanOrEqual(1500);
    await rm(join(root, 'checks'), { force: true });
    expect(await awaitHealthy(config, dir, root, check(false), 1000)).toMatchObject({
      ok: false,
      output: expect.stringContaining('exit 1'),
    });
    // Counted from this call instead, it would have checked every 200 ms for another second.
    expect(await checksRun()).toBe(1);
  });

  it('still passes a healthy process at once, whatever time is left', async () => {
    await rm(join(root, 'checks'), { force: true });
    expect(await awaitHealthy(config, dir, root, check(true), 1000)).toMatchObject({ ok: true });
    expect(await checksRun()).toBe(1);
  });
});
