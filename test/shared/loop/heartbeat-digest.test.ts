import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intentDigest } from '../../../shared/intent/digest.js';
import { validateAppIntent } from '../../../shared/intent/validate.js';
import { appIntentKey, heartbeatKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { parseHeartbeat } from '../../../shared/loop/heartbeat.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { collectStatus, renderStatus } from '../../../pp/status.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, eventually } from '../../support/intent-fixtures.js';

const node = 'n1';
const prefix = 'pp';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pp-heartbeat-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const digestOf = (spec: unknown) => {
  const v = validateAppIntent('test', 'web', JSON.stringify(spec));
  if (!v.ok) throw new Error(v.error);
  return intentDigest(v.intent);
};

describe('what a running agent reports besides its records', () => {
  it('names the intent each record answers, refreshes a heartbeat that is never pruned, and marks a clean stop', async () => {
    const store = new FolderStore(join(dir, 'store'));
    const files = join(dir, 'files');
    const web1 = appIntent('1');
    await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(web1));
    await store.put(appIntentKey(prefix, node, 'api'), JSON.stringify(appIntent('7')));
    const abort = new AbortController();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(files);
    const running = runAgent(fileAgent(files), { store, prefix, node, log: silentLogger(), signal: abort.signal, heartbeatMs: 1000 });
    const record = async (app: string) => JSON.parse((await store.get(realityKey(prefix, node, 'pp-files', app))) ?? 'null');
    const beat = async () => parseHeartbeat((await store.get(heartbeatKey(prefix, node, 'pp-files'))) ?? '');

    await eventually(async () => (await record('web'))?.status === 'converged', 20_000, 'web converged');
    expect((await record('web')).intentDigest).toBe(digestOf(web1));
    // The digest is of the content, not of the text: another key order and spacing give the same one.
    const reordered = Object.fromEntries(Object.entries(web1).reverse());
    expect(digestOf(JSON.parse(JSON.stringify(reordered, null, 2)))).toBe(digestOf(web1));

    const first = await beat();
    expect(first).toMatchObject({ agent: 'pp-files', node, everySeconds: 1, pid: process.pid });
    await eventually(async () => (await beat())!.at !== first!.at, 20_000, 'heartbeat refreshed');

    // An intent change that changes nothing this agent does still moves the digest: the record answers it.
    const changed = { ...web1, ports: [{ port: 9090 }] };
    await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(changed));
    await eventually(async () => (await record('web'))?.intentDigest === digestOf(changed), 20_000, 'digest follows intent');

    // Removing api prunes its record, never the heartbeat.
    await store.delete(appIntentKey(prefix, node, 'api'));
    await eventually(async () => (await record('api')) === null, 20_000, 'api pruned');
    expect(await beat()).toBeDefined();

    const rows = await collectStatus(store, prefix, node);
    expect(rows.find((r) => r.app === 'web')!.agents['pp-files']).toMatchObject({ status: 'converged', intent: 'current' });
    expect(rows.find((r) => r.app === 'web')!.agents['pp-files']!.heartbeatAgeSeconds).toBeLessThan(60);
    expect(rows.some((r) => r.app.startsWith('.heartbeat'))).toBe(false);

    abort.abort();
    await running;
    expect((await beat())!.stopped).toBe(true);
    // Today's intent moves on while the agent is stopped: pp status shows the report answers an older one.
    await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(appIntent('2')));
    const after = await collectStatus(store, prefix, node);
    expect(after.find((r) => r.app === 'web')!.agents['pp-files']).toMatchObject({ intent: 'stale', stopped: true });
    const text = renderStatus(after);
    expect(text).toContain('older intent');
    expect(text).toMatch(/n1 pp-files: heartbeat \d+s ago \(stopped\)/);
  });
});
