import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSetliveAgent } from '../../../agents/setlive/agent.js';
import { readRunsvStatus } from '../../../agents/setlive/runsv-status.js';
import { silentLogger } from '../../../shared/logger.js';
import { runCommand } from '../../../shared/process.js';
import { exitCodeOf, runAgent } from '../../../shared/loop/run-agent.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { freePort } from '../../support/free-port.js';
import { startRunit, type Runit } from '../../support/runit.js';
import { ask, intentFor, linkTarget, makeInstall, NODE, PREFIX, putIntent, reality, testConfig } from './helpers.js';

const AGENT = resolve(import.meta.dirname, '../../../dist/agents/setlive/index.js');
const SIGKILL_ENTRY = resolve(import.meta.dirname, '../../support/sigkill-after-actions.mjs');

let runit: Runit;
let storeDir: string;
let store: FolderStore;
let port: number;
const base = () => join(runit.root, 'apps', 'web');
const install = (v: string) => join(base(), 'installs', `web_${v}`);

/** How a run is cut short: right after its n-th action (through the test entry point sigkill-after-actions.mjs), or from outside on a log line. */
type Kill =
  | { afterActions: number }
  /** SIGKILL from this test as the n-th action (of `kind`, if given) starts, after `delayMs`: lands mid-action. */
  | { onApplying: number; kind?: string; delayMs?: number }
  /** SIGKILL from this test as soon as the agent logs `msg`. */
  | { onLog: string };

/** Runs `pp-setlive --once` as a real process, maybe SIGKILLed as `kill` says; resolves to its exit code or 'killed'. */
function runAgentProcess(kill?: Kill): Promise<number | 'killed'> {
  const args = [
    AGENT,
    '--once',
    '--store',
    `folder:${storeDir}`,
    '--prefix',
    PREFIX,
    '--node',
    NODE,
    '--service-dir',
    runit.serviceDir,
    '--stage-dir',
    runit.stageDir,
    '--settle-seconds',
    '0',
    '--stop-timeout-seconds',
    '5',
    '--pickup-timeout-seconds',
    '15',
    '--log-level',
    'debug',
  ];
  const afterActions = kill && 'afterActions' in kill ? kill.afterActions : undefined;
  const entry = afterActions === undefined ? [] : [SIGKILL_ENTRY];
  const env = afterActions === undefined ? process.env : { ...process.env, PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS: String(afterActions) };
  const child = spawn(process.execPath, [...entry, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let seen = 0;
  let buffered = '';
  child.stderr.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    if (!kill || 'afterActions' in kill) return;
    for (const line of lines) {
      const entry = JSON.parse(line) as { msg?: string; action?: string };
      if ('onLog' in kill) {
        if (entry.msg === kill.onLog) child.kill('SIGKILL');
        continue;
      }
      if (entry.msg !== 'applying' || (kill.kind && entry.action !== kill.kind)) continue;
      if (++seen === kill.onApplying) setTimeout(() => child.kill('SIGKILL'), kill.delayMs ?? 0);
    }
  });
  return new Promise((done) => child.once('exit', (code, signal) => done(signal === 'SIGKILL' ? 'killed' : (code ?? -1))));
}

/** The restart after a kill: a fresh agent (its start() cleanup included) converging once, in this process to save a node start. */
async function restartInProcess(): Promise<number> {
  const agent = createSetliveAgent({ ...testConfig(runit), settleMs: 0 });
  return exitCodeOf(await runAgent(agent, { store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true }));
}

/** `current` must always be a link to an existing install (or not exist yet, before the very first flip). */
async function expectCurrentValid(allowMissing: boolean): Promise<void> {
  const target = await linkTarget(base(), 'current');
  if (target === undefined) expect(allowMissing).toBe(true);
  else expect([install('1'), install('2'), install('3')]).toContain(target);
}

/** After a clean run nothing of a killed one is left: no temp links beside current, no temp files in the service folder. */
async function expectNoLeftovers(): Promise<void> {
  expect((await readdir(base())).sort()).toEqual(['current', 'installs', 'last']);
  const stage = join(runit.stageDir, 'web');
  expect([...(await readdir(stage)), ...(await readdir(join(stage, 'log')))].filter((n) => n.startsWith('.pp-tmp-'))).toEqual([]);
}

/**
 * A failing version's health timeout also bounds the wait for the version rolled back to, so the ones given here
 * leave a loaded machine time to start a node process. Each test gives its own: a new attempt, which no hold
 * left by an earlier test covers.
 */
function intendLive(v: string, health?: { timeoutMs: number }) {
  return putIntent(
    store,
    'web',
    intentFor(base(), port, { live: v, env: { GREETING: `hello from ${v}` }, healthTimeoutMs: health?.timeoutMs }),
  );
}

beforeAll(async () => {
  await access(AGENT).catch(() => {
    throw new Error(`${AGENT} is missing: build first (npx tsc -p .)`);
  });
  runit = await startRunit();
  storeDir = await mkdtemp(join(tmpdir(), 'pp-setlive-crash-store-'));
  store = new FolderStore(storeDir);
  port = await freePort();
  for (const v of ['1', '2']) await makeInstall(base(), 'web', v);
  await makeInstall(base(), 'web', '3', '500 broken build');
});

afterAll(async () => {
  await runit?.stop();
  await rm(storeDir, { recursive: true, force: true });
});

describe('pp-setlive killed with SIGKILL and restarted', () => {
  it('finishes a first deployment killed right after each of its steps', async () => {
    await intendLive('1');
    let kills = 0;
    while ((await runAgentProcess({ afterActions: 1 })) === 'killed') {
      kills += 1;
      await expectCurrentValid(true);
      expect(kills).toBeLessThan(10);
    }
    // write-service, swap-current, link-service, [start,] [await-health,] confirm: one per run. await-health is
    // skipped when the next run already finds the new service up and healthy, and start too when runsvdir has
    // picked the link up and started the service by itself before the next run looks.
    expect(kills).toBeGreaterThanOrEqual(4);
    expect(kills).toBeLessThanOrEqual(6);
    expect(await ask(port)).toMatchObject({ version: '1', greeting: 'hello from 1' });
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', version: '1' });
  });

  /** Flips between versions 1 and 2, cutting the n-th flip short by `kill(n)`, until a run is no longer killed. */
  async function flipKilledAtEachStep(kill: (n: number) => Kill): Promise<number> {
    let from = (await ask(port)).version ?? '1';
    let n = 1;
    for (; n < 10; n++) {
      const to = from === '1' ? '2' : '1';
      await intendLive(to);
      if ((await runAgentProcess(kill(n))) !== 'killed') break;
      await expectCurrentValid(false);
      expect(await restartInProcess()).toBe(0);
      expect(await ask(port)).toMatchObject({ version: to, greeting: `hello from ${to}` });
      expect(await linkTarget(base(), 'current')).toBe(install(to));
      expect(await linkTarget(base(), 'last')).toBe(install(from));
      await expectNoLeftovers();
      from = to;
    }
    return n;
  }

  it('ends up live on the intended version when a flip is killed right after each step, then restarted', async () => {
    // stop, write-service, swap-current, start, await-health, confirm: killed after each, the 7th run completes
    expect(await flipKilledAtEachStep((n) => ({ afterActions: n }))).toBe(7);
  });

  it('ends up live on the intended version when a flip is killed from outside in the middle of each step', async () => {
    expect(await flipKilledAtEachStep((n) => ({ onApplying: n, delayMs: 20 }))).toBeGreaterThanOrEqual(6);
  });

  it('rolls back a failing version whose health wait was killed, on the next run', async () => {
    const before = (await ask(port)).version ?? '';
    await intendLive('3', { timeoutMs: 4000 });
    expect(await runAgentProcess({ onApplying: 1, kind: 'await-health', delayMs: 500 })).toBe('killed');
    expect(await linkTarget(base(), 'current')).toBe(install('3'));
    expect(await runAgentProcess()).toBe(1);
    expect((await reality(store, 'web'))?.error).toMatch(/HTTP 500: broken build; rolled back to \d, which is up and healthy$/);
    expect(await ask(port)).toMatchObject({ version: before });
    expect(await linkTarget(base(), 'current')).toBe(install(before));
    expect(await linkTarget(base(), 'last')).not.toBe(install(before));
  });

  it('puts last back where it was when a flip cut short after the swap is rolled back', async () => {
    const before = (await ask(port)).version ?? '';
    const lastBefore = await linkTarget(base(), 'last');
    expect(lastBefore).toBeDefined();
    expect(lastBefore).not.toBe(install(before));
    await intendLive('3', { timeoutMs: 4500 });
    expect(await runAgentProcess({ onApplying: 1, kind: 'start' })).toBe('killed');
    expect(await linkTarget(base(), 'current')).toBe(install('3'));
    expect(await runAgentProcess()).toBe(1);
    expect((await reality(store, 'web'))?.error).toMatch(/rolled back to \d, which is up and healthy$/);
    expect(await ask(port)).toMatchObject({ version: before });
    expect(await linkTarget(base(), 'current')).toBe(install(before));
    expect(await linkTarget(base(), 'last')).toBe(lastBefore);
  });

  it('finishes a rollback killed after current is back, without taking the working version down to retry the failed one', async () => {
    const before = (await ask(port)).version ?? '';
    const lastBefore = await linkTarget(base(), 'last');
    await intendLive('3', { timeoutMs: 5000 });
    expect(await runAgentProcess({ onLog: 'current points back at the previous install' })).toBe('killed');
    expect(await linkTarget(base(), 'current')).toBe(install(before));
    const applied: string[] = [];
    const listen = (m: unknown) => applied.push((m as { action: string }).action);
    subscribe('platypus:action-applied', listen);
    try {
      expect(await restartInProcess()).toBe(1);
    } finally {
      unsubscribe('platypus:action-applied', listen);
    }
    // The failed version was never made current again: only the rollback was finished, and it passed its check.
    expect(applied.filter((a) => !a.startsWith('start it and await it'))).toEqual([]);
    expect((await reality(store, 'web'))?.error).toMatch(/^3: this version failed at .* and is not tried again before /);
    expect(await ask(port)).toMatchObject({ version: before });
    expect(await linkTarget(base(), 'current')).toBe(install(before));
    expect(await linkTarget(base(), 'last')).toBe(lastBefore);
    // Held, and left running.
    expect(await restartInProcess()).toBe(1);
    expect(await ask(port)).toMatchObject({ version: before });
  });

  it('waits for the version rolled back to when a run killed after starting it left it booting', async () => {
    await makeInstall(base(), 'web', '4', undefined, 3000);
    await intendLive('4');
    expect(await runAgentProcess()).toBe(0);
    await intendLive('3', { timeoutMs: 5500 });
    expect(await runAgentProcess({ onLog: 'current points back at the previous install' })).toBe('killed');
    expect(await linkTarget(base(), 'current')).toBe(install('4'));
    // What the killed run was about to do: start the version it went back to, which boots for 3 s.
    const dir = join(runit.stageDir, 'web');
    expect((await runCommand(['sv', 'up', dir])).exitCode).toBe(0);
    const deadline = Date.now() + 30_000;
    while ((await readRunsvStatus(dir)).state !== 'run') expect(Date.now()).toBeLessThan(deadline);
    expect(await restartInProcess()).toBe(1);
    expect((await reality(store, 'web'))?.error).toMatch(/^3: this version failed at .* and is not tried again before /);
    expect(await ask(port)).toMatchObject({ version: '4' });
  });
});
