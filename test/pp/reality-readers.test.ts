import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realityKey } from '../../shared/keys.js';
import { silentLogger } from '../../shared/logger.js';
import { RealityWriter } from '../../shared/loop/reality.js';
import { memoryOf } from '../../shared/reality/memory.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import { analyze, deploySpec } from '../../pp/deploy/analyze.js';
import { flipState, readRecords, stageState } from '../../pp/deploy/follow.js';
import { collectStatus } from '../../pp/status.js';
import { readRecord } from '../support/reality.js';
import { appIntent } from '../support/intent-fixtures.js';
import { OLD_PREPARER, OLD_SETLIVE } from '../support/old-records.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pp-old-records-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reality records written before records carried memory', () => {
  it('are read by pp status and pp deploy as they are, and the next write of their agent adds memory', async () => {
    const store = new FolderStore(join(dir, 'store'));
    const preparerKey = realityKey('p', 'n1', 'preparer', 'web');
    await store.put(preparerKey, OLD_PREPARER);
    await store.put(realityKey('p', 'n1', 'setlive', 'web'), OLD_SETLIVE);

    const [row] = await collectStatus(store, 'p', 'n1');
    expect(row?.agents).toMatchObject({
      preparer: { status: 'converged', version: '2', detail: expect.stringContaining('installs left in a former basedir') },
      setlive: { status: 'converged', version: '2' },
    });
    const x = { app: 'web', version: '2', sha256: 'a'.repeat(64) };
    expect(stageState('n1', (await readRecords(store, 'p', 'preparer', 'web')).get('n1'), x)).toEqual({ node: 'n1', state: 'done' });
    expect(flipState('n1', (await readRecords(store, 'p', 'setlive', 'web')).get('n1'), undefined, x)).toEqual({
      node: 'n1',
      state: 'done',
    });

    // The agent's writer takes the old record for one to replace: the new one has memory, and the old fields besides.
    const writer = new RealityWriter(store, 'p', 'n1', 'preparer', silentLogger());
    expect((await writer.records()).map((r) => r.app)).toEqual(['web']);
    const details = { basedir: '/tmp/oldrec/new', formerBasedirs: ['/tmp/oldrec/old'] };
    const memory = { basedir: '/tmp/oldrec/new', formerBasedirs: ['/tmp/oldrec/old'] };
    expect(await writer.write([{ app: 'web', status: 'converged', version: '2', attempts: 0, details, memory }], true)).toBe(1);
    const rewritten = await readRecord(store, preparerKey);
    expect(rewritten).toMatchObject({ details, memory });
    expect(memoryOf(rewritten!)).toEqual(memory);
  });
});

describe('a reality record that cannot be read', () => {
  it('is shown by pp status and warned about by pp deploy in the same words, naming key and field; the others are read', async () => {
    const store = new FolderStore(join(dir, 'unreadable'));
    const badKey = realityKey('p', 'n1', 'setlive', 'web');
    const why = `reality record at key ${badKey}: field status: expected one of converged, pending, failed, got "held"`;
    await store.put(badKey, JSON.stringify({ app: 'web', agent: 'setlive', status: 'held', attempts: 0, at: new Date().toISOString() }));
    await store.put(realityKey('p', 'n1', 'preparer', 'web'), OLD_PREPARER);

    const [row] = await collectStatus(store, 'p', 'n1');
    expect(row?.agents).toMatchObject({ setlive: { status: 'unreadable', detail: why }, preparer: { status: 'converged' } });
    const plan = await analyze(store, 'p', 'web', ['n1'], deploySpec('web', 'spec.json', JSON.stringify(appIntent('2'))), {
      silentAfterSeconds: 1e9,
    });
    expect(plan.nodes[0]?.warnings).toContain(`n1's setlive: ${why}`);
    expect(Object.keys(plan.nodes[0]?.reality ?? {})).toEqual(['preparer']);
    expect((await readRecords(store, 'p', 'setlive', 'web')).size).toBe(0);
  });
});
