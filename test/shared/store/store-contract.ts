import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IntentStore } from '../../../shared/store/types.js';
import { uniquePrefix } from '../../support/intent-fixtures.js';

/** The behaviour every IntentStore must have; run against the folder store and a real Consul agent. */
export function storeContract(name: string, open: () => Promise<IntentStore>) {
  describe(`${name} store contract`, () => {
    let store: IntentStore;
    let p: string;
    beforeAll(async () => { store = await open(); });
    afterAll(async () => { await store.close(); });
    const fresh = () => { p = uniquePrefix(name); return p; };

    it('round-trips values and answers undefined for a missing key', async () => {
      fresh();
      await store.put(`${p}/a/b`, '{"x":1}');
      expect(await store.get(`${p}/a/b`)).toBe('{"x":1}');
      expect(await store.get(`${p}/a/missing`)).toBeUndefined();
      await store.delete(`${p}/a/b`);
      expect(await store.get(`${p}/a/b`)).toBeUndefined();
    });

    it('reads a prefix with a trailing slash without matching a sibling that shares its start', async () => {
      fresh();
      await store.put(`${p}/intent/web1/app`, '1');
      await store.put(`${p}/intent/web10/app`, '10');
      const snap = await store.read(`${p}/intent/web1/`);
      expect(snap.entries).toEqual([{ key: `${p}/intent/web1/app`, value: '1' }]);
      expect(snap.index).toBeGreaterThan(0);
      expect((await store.read(`${p}/intent/nobody/`)).entries).toEqual([]);
    });

    it('applies a transaction of sets and deletes', async () => {
      fresh();
      await store.put(`${p}/n/old`, 'old');
      await store.transaction([{ key: `${p}/n/new`, value: 'new' }, { key: `${p}/n/old`, value: null }]);
      expect((await store.read(`${p}/n/`)).entries).toEqual([{ key: `${p}/n/new`, value: 'new' }]);
    });

    it('answers a watch from index 0 at once and blocks on the current index until the content changes', async () => {
      fresh();
      await store.put(`${p}/w/a`, '1');
      const first = await store.watch(`${p}/w/`, 0, 60_000);
      expect(first.entries.map((e) => e.value)).toEqual(['1']);
      const blocked = store.watch(`${p}/w/`, first.index, 60_000);
      let answered = false;
      void blocked.then(() => { answered = true; });
      await new Promise((r) => setTimeout(r, 300));
      expect(answered).toBe(false);
      await store.put(`${p}/w/a`, '2');
      const second = await blocked;
      expect(second.index).toBeGreaterThan(first.index);
      expect(second.entries.map((e) => e.value)).toEqual(['2']);
    });

    it('returns the same index when the wait runs out with nothing changed', async () => {
      fresh();
      await store.put(`${p}/q/a`, '1');
      const first = await store.read(`${p}/q/`);
      const again = await store.watch(`${p}/q/`, first.index, 500);
      expect(again.index).toBe(first.index);
      expect(again.entries).toEqual(first.entries);
    });

    it('ends a blocked watch when its signal aborts', async () => {
      fresh();
      await store.put(`${p}/s/a`, '1');
      const first = await store.read(`${p}/s/`);
      const abort = new AbortController();
      const blocked = store.watch(`${p}/s/`, first.index, 60_000, abort.signal).then(() => 'answered', () => 'rejected');
      setTimeout(() => abort.abort(), 200);
      expect(['answered', 'rejected']).toContain(await blocked);
    });
  });
}
