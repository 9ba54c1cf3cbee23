import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { readNodeState, writeNodes } from '../../pp/deploy/write.js';
import { appIntentKey, drainedKey, intentSerialKey } from '../../shared/keys.js';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';

describe('writing many nodes with check-and-set (real Consul)', () => {
  it('writes every node whose intent is as read, reports the one changed since and leaves it as it is', async () => {
    const store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    const prefix = `ppwrite-${randomBytes(4).toString('hex')}`;
    try {
      const nodes = Array.from({ length: 40 }, (_, i) => `n${i}`);
      await store.transaction(nodes.slice(0, 20).map((n) => ({ key: appIntentKey(prefix, n, 'hello'), value: 'old' })));
      await store.put(drainedKey(prefix, 'n30'), '{}');
      const states = await Promise.all(nodes.map((n) => readNodeState(store, prefix, n, 'hello')));
      await store.put(appIntentKey(prefix, 'n7', 'hello'), 'someone else');
      await store.put(intentSerialKey(prefix, 'n33'), '99');
      const result = await writeNodes(
        store,
        prefix,
        'hello',
        states.map((state) => ({ state, value: 'new' })),
        () => {},
      );
      expect(result.changed.sort()).toEqual(['n33', 'n7']);
      expect(result.written).toHaveLength(38);
      expect(await store.get(appIntentKey(prefix, 'n7', 'hello'))).toBe('someone else');
      expect(await store.get(appIntentKey(prefix, 'n33', 'hello'))).toBeUndefined();
      expect(await store.get(appIntentKey(prefix, 'n8', 'hello'))).toBe('new');
      expect(await store.get(drainedKey(prefix, 'n30'))).toBeUndefined();
      expect(await store.get(intentSerialKey(prefix, 'n8'))).toBe('1');
    } finally {
      await store.close();
    }
  });
});
