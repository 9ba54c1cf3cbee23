import { describe, expect, inject, it } from 'vitest';
import { ConsulStore, durationMs } from '../../../shared/store/consul-store.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { uniquePrefix } from '../../support/intent-fixtures.js';
import { storeContract } from './store-contract.js';

storeContract('consul', async () => new ConsulStore(consulConfigFrom(inject('consulAddress'), {})));

describe('consul store transactions', () => {
  it('names the keys and txn_max_req_len when Consul refuses a transaction as too large (values travel base64-encoded)', async () => {
    const store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    const p = uniquePrefix('consul-txn');
    try {
      // 400,000 bytes fit a value (512 KiB) but not a transaction's request, where they take 533,336 bytes.
      await store.put(`${p}/fits`, 'x'.repeat(400_000));
      await expect(store.transaction([{ key: `${p}/big`, value: 'x'.repeat(400_000) }])).rejects.toThrow(
        new RegExp(
          `^consul refused the transaction of ${p}/big as too large: its request is \\d+ bytes .*txn_max_req_len.*nothing of it was written$`,
        ),
      );
      expect((await store.read(`${p}/`)).entries.map((e) => e.key)).toEqual([`${p}/fits`]);
    } finally {
      await store.close();
    }
  });
});

describe('durationMs', () => {
  it("reads the Go durations Consul writes a session's TTL in; anything else is undefined", () => {
    expect(durationMs('15s')).toBe(15_000);
    expect(durationMs('1h0m0s')).toBe(3_600_000);
    expect(durationMs('1m30.5s')).toBe(90_500);
    expect(durationMs('250ms')).toBe(250);
    for (const bad of ['', '15', 's', '15 s', '15sx', '-15s']) expect(durationMs(bad)).toBeUndefined();
  });
});
