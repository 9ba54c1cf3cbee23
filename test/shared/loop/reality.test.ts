import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { RealityWriter } from '../../../shared/loop/reality.js';
import type { AppOutcome } from '../../../shared/loop/types.js';
import { FolderStore } from '../../../shared/store/folder-store.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pp-reality-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A real folder store whose next read waits until `release` is called, to land an invalidate() inside it. */
class GatedStore extends FolderStore {
  gate: Promise<void> | undefined;
  override async read(prefix: string) {
    const snapshot = await super.read(prefix);
    await this.gate;
    return snapshot;
  }
}

const outcome: AppOutcome = { app: 'web', status: 'converged', version: '1', attempts: 0 };
const key = realityKey('pp', 'n1', 'preparer', 'web');

describe('RealityWriter', () => {
  it('writes a record once, not again while unchanged, and again after invalidate() when someone deleted it', async () => {
    const store = new FolderStore(join(dir, 'plain'));
    const writer = new RealityWriter(store, 'pp', 'n1', 'preparer', silentLogger());
    expect(await writer.write([outcome], true)).toBe(1);
    expect(await writer.write([outcome], true)).toBe(0);
    await store.delete(key);
    writer.invalidate();
    expect(await writer.write([outcome], true)).toBe(1);
    expect(JSON.parse((await store.read(key)).entries[0]!.value)).toMatchObject({ app: 'web', status: 'converged', agent: 'preparer' });
  });

  it('does not trust a read that was in flight when invalidate() was called', async () => {
    const store = new GatedStore(join(dir, 'gated'));
    const writer = new RealityWriter(store, 'pp', 'n1', 'preparer', silentLogger());
    expect(await writer.write([outcome], true)).toBe(1);
    writer.invalidate();
    let release: () => void = () => {};
    store.gate = new Promise((r) => {
      release = r;
    });
    const records = writer.records(); // starts its read now, and finishes only at the gate
    writer.invalidate(); // e.g. the store's index went backwards: what was read may be from before a restore
    release();
    expect((await records).map((r) => r.app)).toEqual(['web']);
    store.gate = undefined;
    await store.delete(key);
    expect(await writer.write([outcome], true)).toBe(1);
    expect((await store.read(key)).entries).toHaveLength(1);
  });
});
