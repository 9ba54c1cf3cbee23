import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, type IntentStore } from '../../../shared/store/types.js';
import { uniquePrefix } from '../../support/intent-fixtures.js';

/** The behaviour every IntentStore must have; run against the folder store and a real Consul agent. */
export function storeContract(name: string, open: () => Promise<IntentStore>) {
  describe(`${name} store contract`, () => {
    let store: IntentStore;
    let p: string;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store.close();
    });
    const fresh = () => {
      p = uniquePrefix(name);
      return p;
    };

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
      expect(snap.entries).toEqual([{ key: `${p}/intent/web1/app`, value: '1', modifyIndex: expect.any(Number) }]);
      expect(snap.index).toBeGreaterThan(0);
      expect((await store.read(`${p}/intent/nobody/`)).entries).toEqual([]);
    });

    it('applies a transaction of sets and deletes', async () => {
      fresh();
      await store.put(`${p}/n/old`, 'old');
      await store.transaction([
        { key: `${p}/n/new`, value: 'new' },
        { key: `${p}/n/old`, value: null },
      ]);
      expect((await store.read(`${p}/n/`)).entries.map(({ key, value }) => ({ key, value }))).toEqual([
        { key: `${p}/n/new`, value: 'new' },
      ]);
    });

    it('gives each key a modify index that moves when that key is written, not when another is', async () => {
      fresh();
      await store.put(`${p}/m/a`, '1');
      await store.put(`${p}/m/b`, '1');
      const indexOf = async (key: string) => (await store.read(`${p}/m/`)).entries.find((e) => e.key === key)?.modifyIndex;
      const a1 = await indexOf(`${p}/m/a`);
      const b1 = await indexOf(`${p}/m/b`);
      expect(a1).toBeGreaterThan(0);
      await store.put(`${p}/m/a`, '2');
      const a2 = await indexOf(`${p}/m/a`);
      expect(a2).toBeGreaterThan(0);
      expect(a2).not.toBe(a1);
      expect(await indexOf(`${p}/m/b`)).toBe(b1);
    });

    it('applies check-and-set writes whose indexes hold, and refuses the whole transaction when one does not', async () => {
      fresh();
      await store.put(`${p}/c/a`, 'a1');
      await store.put(`${p}/c/b`, 'b1');
      const read = async () => Object.fromEntries((await store.read(`${p}/c/`)).entries.map((e) => [e.key.slice(`${p}/c/`.length), e]));
      const before = await read();
      await store.transaction([
        { key: `${p}/c/a`, value: 'a2', ifIndex: before.a!.modifyIndex! },
        { key: `${p}/c/b`, value: null, ifIndex: before.b!.modifyIndex! },
        { key: `${p}/c/new`, value: 'n1', ifIndex: 0 },
        { key: `${p}/c/absent`, value: null, ifIndex: 0 },
      ]);
      await store.put(`${p}/c/keep`, 'k');
      const after = await read();
      expect(Object.keys(after)).toEqual(['a', 'keep', 'new']);
      expect(after.a!.value).toBe('a2');

      const refused = [
        // a stale index on a set, on a delete; "absent" (0) for a key that exists, on a set and on a delete
        [{ key: `${p}/c/a`, value: 'lost', ifIndex: before.a!.modifyIndex! }],
        [{ key: `${p}/c/a`, value: null, ifIndex: before.a!.modifyIndex! }],
        [{ key: `${p}/c/new`, value: 'lost', ifIndex: 0 }],
        [{ key: `${p}/c/new`, value: null, ifIndex: 0 }],
        // a stale index on a key that is gone
        [{ key: `${p}/c/b`, value: 'lost', ifIndex: before.b!.modifyIndex! }],
      ];
      for (const failing of refused) {
        // The writes beside the failing one (a set and a delete) must not land either.
        const writes = [{ key: `${p}/c/other`, value: 'lost' }, { key: `${p}/c/keep`, value: null }, ...failing];
        const refusal = await store.transaction(writes).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(refusal, JSON.stringify(failing)).toBeInstanceOf(ConflictError);
        expect((refusal as Error).message).toContain(failing[0]!.key);
        expect(await read()).toEqual(after);
      }
    });

    it('refuses a value over 512 KiB (counted in bytes), naming the key and the limit, and writes nothing of its transaction', async () => {
      fresh();
      const limit = 512 * 1024;
      await store.put(`${p}/v/fits`, 'x'.repeat(limit));
      expect(await store.get(`${p}/v/fits`)).toHaveLength(limit);
      await expect(store.put(`${p}/v/big`, 'x'.repeat(limit + 1))).rejects.toThrow(
        `cannot write ${p}/v/big: value of 524289 bytes, over the 512 KiB limit (expected at most 524288 bytes); nothing written`,
      );
      // 'é' is two bytes in UTF-8: fewer characters than the limit, more bytes.
      const writes = [
        { key: `${p}/v/other`, value: '1' },
        { key: `${p}/v/big`, value: 'é'.repeat(limit / 2 + 1) },
      ];
      await expect(store.transaction(writes)).rejects.toThrow(`cannot write ${p}/v/big: value of 524290 bytes, over the 512 KiB limit`);
      expect((await store.read(`${p}/v/`)).entries.map((e) => [e.key, e.tooLarge])).toEqual([[`${p}/v/fits`, undefined]]);
    });

    it('answers a watch from index 0 at once and blocks on the current index until the content changes', async () => {
      fresh();
      await store.put(`${p}/w/a`, '1');
      const first = await store.watch(`${p}/w/`, 0, 60_000);
      expect(first.entries.map((e) => e.value)).toEqual(['1']);
      const blocked = store.watch(`${p}/w/`, first.index, 60_000);
      let answered = false;
      void blocked.then(() => {
        answered = true;
      });
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
      const blocked = store.watch(`${p}/s/`, first.index, 60_000, abort.signal).then(
        () => 'answered',
        () => 'rejected',
      );
      setTimeout(() => abort.abort(), 200);
      expect(['answered', 'rejected']).toContain(await blocked);
    });
  });
}
