import { decodeRecord, type RealityRecord } from '../../shared/reality/record.js';
import type { IntentStore } from '../../shared/store/types.js';

/**
 * The record at `key` as every reader reads it (shared/reality/record.ts), or undefined when there is none. A value
 * there that the codec refuses fails the test, naming the key and the field: what agents write must stay readable.
 */
export function recordOf(key: string, raw: string | undefined): RealityRecord | undefined {
  if (raw === undefined) return undefined;
  const decoded = decodeRecord(key, raw);
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.record;
}

/** The record at `key` in `store` (see recordOf). */
export async function readRecord(store: Pick<IntentStore, 'get'>, key: string): Promise<RealityRecord | undefined> {
  return recordOf(key, await store.get(key));
}
