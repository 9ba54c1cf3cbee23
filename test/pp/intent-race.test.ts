import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drainNodes, putIntent, removeIntent } from '../../pp/intent-commands.js';
import { intentSerialKey, nodeIntentPrefix } from '../../shared/keys.js';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import type { IntentStore, KvWrite } from '../../shared/store/types.js';
import { appIntent, uniquePrefix } from '../support/intent-fixtures.js';
import { runCli } from '../support/run-cli.js';

/** A valid spec whose basedir is the app's own (apps of a node may not share one). */
const spec = (app: string) => JSON.stringify(appIntent('1.0', { basedir: `/srv/${app}` }));

/**
 * The store as `parties` concurrent read-modify-writes see it when each one reads before any of them writes:
 * the first `parties` transactions are held until all of them have arrived, then released together.
 */
function interleaved(store: IntentStore, parties: number): IntentStore {
  let waiting = 0;
  let release!: () => void;
  const allRead = new Promise<void>((r) => {
    release = r;
  });
  const gated = Object.create(store) as IntentStore;
  gated.transaction = async (writes: KvWrite[]) => {
    if (waiting < parties) {
      waiting++;
      if (waiting === parties) release();
      await allRead;
    }
    return store.transaction(writes);
  };
  return gated;
}

for (const kind of ['folder', 'consul'] as const) {
  describe(`pp read-modify-writes on the ${kind} store`, () => {
    let store: IntentStore;
    let storeSpec: string;
    let prefix: string;
    let node = 0;
    beforeAll(async () => {
      if (kind === 'folder') {
        const root = join(await mkdtemp(join(tmpdir(), 'pp-race-')), 'store');
        store = new FolderStore(root);
        storeSpec = `folder:${root}`;
      } else {
        store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
        storeSpec = `consul://${inject('consulAddress')}`;
      }
      prefix = uniquePrefix('race');
    });
    afterAll(async () => {
      await store.close();
    });

    const freshNode = async (apps: string[]) => {
      const name = `n${++node}`;
      for (const app of apps) await putIntent(store, prefix, name, app, spec(app));
      return name;
    };
    const namesOn = async (n: string) =>
      (await store.read(nodeIntentPrefix(prefix, n))).entries.map((e) => e.key.slice(nodeIntentPrefix(prefix, n).length));

    it('removes the two last apps of a node concurrently and leaves it empty and drained', async () => {
      const n = await freshNode(['a', 'b']);
      const racing = interleaved(store, 2);
      // Both read {a, b}: alone, each would think the other app remains and write no marker.
      await Promise.all([removeIntent(racing, prefix, n, 'a'), removeIntent(racing, prefix, n, 'b')]);
      expect(await namesOn(n)).toEqual(['.drained']);
    });

    it('keeps a put that races the removal of the last app', async () => {
      const n = await freshNode(['a']);
      const racing = interleaved(store, 2);
      // The rm reads {a} and means to write the marker; the put adds c, which the rm never read.
      await Promise.all([removeIntent(racing, prefix, n, 'a'), putIntent(racing, prefix, n, 'c', spec('c'))]);
      expect(await namesOn(n)).toEqual(['c']);
    });

    it('keeps a put that races a drain only if it lands after the drain, and never leaves the node half drained', async () => {
      const n = await freshNode(['a', 'b']);
      const racing = interleaved(store, 2);
      const [removed] = await Promise.all([drainNodes(racing, prefix, n), putIntent(racing, prefix, n, 'c', spec('c'))]);
      const names = await namesOn(n);
      // Drain then put: c and no marker. Put then drain: the drain removed c too.
      expect([['c'], ['.drained']]).toContainEqual(names);
      expect(removed).toBe(names.includes('c') ? 2 : 3);
    });

    it('moves the node serial key with every write, outside the node prefix agents read', async () => {
      const n = await freshNode(['a']);
      const serial = async () =>
        (await store.read(intentSerialKey(prefix, n))).entries.find((e) => e.key === intentSerialKey(prefix, n))?.value;
      const before = Number(await serial());
      await putIntent(store, prefix, n, 'b', spec('b'));
      expect(Number(await serial())).toBe(before + 1);
      expect(await namesOn(n)).toEqual(['a', 'b']);
    });

    it('fails with exit 3 and writes nothing when every attempt meets a conflict', async () => {
      const n = await freshNode(['a', 'b']);
      // A writer that moves the serial key between each read and write of the rm.
      const busy = Object.create(store) as IntentStore;
      busy.transaction = async (writes: KvWrite[]) => {
        await store.put(intentSerialKey(prefix, n), String(Math.random()));
        return store.transaction(writes);
      };
      await expect(removeIntent(busy, prefix, n, 'a')).rejects.toMatchObject({
        exitCode: 3,
        message: expect.stringMatching(/changed under every one of 5 attempts/),
      });
      expect(await namesOn(n)).toEqual(['a', 'b']);
    });

    it('two pp processes removing the last two apps never leave the node empty without the marker', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'pp-race-cli-'));
      await writeFile(join(dir, 'spec.json'), spec('a'));
      for (let round = 0; round < 4; round++) {
        const n = await freshNode(['a', 'b']);
        const results = await Promise.all(
          ['a', 'b'].map((app) => runCli('pp/index.js', ['--store', storeSpec, '--prefix', prefix, 'intent', 'rm', n, app])),
        );
        for (const r of results) expect([0, 3], r.stderr).toContain(r.code);
        const names = await namesOn(n);
        const kept = ['a', 'b'].filter((_, i) => results[i]!.code !== 0);
        expect(names).toEqual(kept.length === 0 ? ['.drained'] : kept);
      }
    });
  });
}
