import { ConflictError, type IntentStore, type KvWrite, type LeaseOptions } from '../store/types.js';
import type { MetricsRegistry } from './registry.js';

/** An IntentStore that counts its requests by operation and result (ok, error, conflict); aborted watches are not counted. */
export function meteredStore(store: IntentStore, m: MetricsRegistry): IntentStore {
  const requests = m.counter('platypus_store_requests_total', 'Requests to the intent store, by operation and result.', [
    'operation',
    'result',
  ]);
  const count = async <T>(operation: string, run: () => Promise<T>, signal?: AbortSignal): Promise<T> => {
    try {
      const value = await run();
      requests.inc({ operation, result: 'ok' });
      return value;
    } catch (err) {
      if (!signal?.aborted) requests.inc({ operation, result: err instanceof ConflictError ? 'conflict' : 'error' });
      throw err;
    }
  };
  return {
    description: store.description,
    read: (prefix: string) => count('read', () => store.read(prefix)),
    watch: (prefix: string, afterIndex: number, waitMs: number, signal?: AbortSignal) =>
      count('watch', () => store.watch(prefix, afterIndex, waitMs, signal), signal),
    get: (key: string) => count('get', () => store.get(key)),
    put: (key: string, value: string) => count('put', () => store.put(key, value)),
    delete: (key: string) => count('delete', () => store.delete(key)),
    transaction: (writes: KvWrite[]) => count('transaction', () => store.transaction(writes)),
    // Session calls go past the counter: a lease is made only while a rollout slot is wanted.
    leases: (options: LeaseOptions) => store.leases(options),
    close: () => store.close(),
  };
}
