import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intentDigest } from '../../shared/intent/digest.js';
import { validateAppIntent } from '../../shared/intent/validate.js';
import { appIntentKey, heartbeatKey, realityKey } from '../../shared/keys.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import { appIntent } from '../support/intent-fixtures.js';
import { runCli } from '../support/run-cli.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-check-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const AGENTS = ['preparer', 'iptables', 'setlive'];
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

/** A node `n1` whose agents all beat and report `web` converged on today's intent; `tweak` then spoils one thing. */
async function fleet(name: string, tweak: (store: FolderStore, digest: string) => Promise<void> = async () => {}) {
  const storeDir = join(root, name);
  const store = new FolderStore(storeDir);
  const spec = appIntent('1');
  await store.put(appIntentKey('pp', 'n1', 'web'), JSON.stringify(spec));
  const valid = validateAppIntent('test', 'web', JSON.stringify(spec));
  if (!valid.ok) throw new Error(valid.error);
  const digest = intentDigest(valid.intent);
  for (const agent of AGENTS) {
    await store.put(
      realityKey('pp', 'n1', agent, 'web'),
      JSON.stringify({ agent, app: 'web', status: 'converged', version: '1', attempts: 0, at: minutesAgo(60), intentDigest: digest }),
    );
    await store.put(
      heartbeatKey('pp', 'n1', agent),
      JSON.stringify({ agent, node: 'n1', at: minutesAgo(1), startedAt: minutesAgo(90), everySeconds: 300, host: 'h', pid: 1 }),
    );
  }
  await tweak(store, digest);
  return `folder:${storeDir}`;
}

const check = (store: string, ...args: string[]) => runCli('pp/index.js', ['check', '--prefix', 'pp', '--store', store, ...args]);

describe('pp check (a Nagios plugin)', () => {
  it("OK: every app converged on today's intent, every agent beating; perfdata after |", async () => {
    const r = await check(await fleet('ok'), 'n1');
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(
      /^PLATYPUS OK - 1 node, 1\/1 apps converged, every agent reporting \| nodes=1;;;0 apps=1;;;0 converged=1;;;0 failed=0;;0;0 silent=0;;0;0 pending_too_long=0;0;;0 stale=0;0;;0\n$/,
    );
  });

  it('WARNING: an app pending for longer than --pending, and a record answering an older intent', async () => {
    const pending = await fleet('pending', (s, digest) =>
      s.put(
        realityKey('pp', 'n1', 'setlive', 'web'),
        JSON.stringify({
          agent: 'setlive',
          app: 'web',
          status: 'pending',
          reason: 'waiting for install of 1',
          attempts: 0,
          at: minutesAgo(45),
          intentDigest: digest,
        }),
      ),
    );
    const r = await check(pending, '--pending', '30m');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^PLATYPUS WARNING - 1 pending too long: n1\/web setlive pending for 45m: waiting for install of 1 \| .*pending_too_long=1;0;;0/,
    );
    expect((await check(pending, '--pending', '1h')).code).toBe(0);

    const stale = await fleet('stale', (s) => s.put(appIntentKey('pp', 'n1', 'web'), JSON.stringify(appIntent('2'))));
    const s = await check(stale);
    expect(s.code).toBe(1);
    expect(s.stdout).toMatch(
      /^PLATYPUS WARNING - 3 answer an older intent: n1\/web iptables; n1\/web preparer; n1\/web setlive \| .*stale=3;0;;0/,
    );
  });

  it('CRITICAL: a failed app; an agent silent for longer than --max-age, stopped, or never beating', async () => {
    const failed = await fleet('failed', (s, digest) =>
      s.put(
        realityKey('pp', 'n1', 'setlive', 'web'),
        JSON.stringify({
          agent: 'setlive',
          app: 'web',
          status: 'failed',
          error: 'web 2 did not become healthy | rolled back',
          attempts: 2,
          at: minutesAgo(2),
          intentDigest: digest,
        }),
      ),
    );
    const f = await check(failed);
    expect(f.code).toBe(2);
    expect(f.stdout).toMatch(
      /^PLATYPUS CRITICAL - 1 failed: n1\/web setlive: web 2 did not become healthy \/ rolled back \| .*failed=1;;0;0/,
    );

    const silent = await fleet('silent', async (s) => {
      await s.put(
        heartbeatKey('pp', 'n1', 'preparer'),
        JSON.stringify({
          agent: 'preparer',
          node: 'n1',
          at: minutesAgo(40),
          startedAt: minutesAgo(90),
          everySeconds: 300,
          host: 'h',
          pid: 1,
        }),
      );
      await s.put(
        heartbeatKey('pp', 'n1', 'setlive'),
        JSON.stringify({
          agent: 'setlive',
          node: 'n1',
          at: minutesAgo(3),
          startedAt: minutesAgo(90),
          everySeconds: 300,
          host: 'h',
          pid: 1,
          stopped: true,
        }),
      );
      await s.delete(heartbeatKey('pp', 'n1', 'iptables'));
    });
    const q = await check(silent, '--max-age', '15m');
    expect(q.code).toBe(2);
    expect(q.stdout).toMatch(
      /^PLATYPUS CRITICAL - 3 silent: n1 iptables: no heartbeat; n1 preparer: last heartbeat 40m ago; n1 setlive: stopped 3m ago \| .*silent=3;;0;0/,
    );
    expect((await check(silent, '--max-age', '1h', '--agents', 'preparer')).code).toBe(2); // the stopped setlive still counts
  });

  it('UNKNOWN (3), never CRITICAL: usage errors, an unreadable store, a node with no intent and no reality', async () => {
    const ok = await fleet('unknown');
    const badAge = await check(ok, '--max-age', 'soon');
    expect(badAge).toMatchObject({ code: 3 });
    expect(badAge.stdout).toBe('PLATYPUS UNKNOWN - --max-age "soon": expected a duration such as 90s, 15m, 2h or 1d\n');
    const badFlag = await check(ok, '--bogus');
    expect(badFlag.code).toBe(3);
    expect(badFlag.stdout).toMatch(/^PLATYPUS UNKNOWN - usage: .*--bogus/);
    const down = await check('consul://127.0.0.1:1');
    expect(down.code).toBe(3);
    expect(down.stdout).toMatch(/^PLATYPUS UNKNOWN - consul 127\.0\.0\.1:1: /);
    const nobody = await check(ok, 'n1', 'n9');
    expect(nobody).toMatchObject({ code: 3, stdout: 'PLATYPUS UNKNOWN - no intent and no reality for node n9\n' });
  });
});
