/**
 * One key/value pair of the intent store; keys are '/'-separated and never start with '/'. `modifyIndex`
 * (from `read`) is the key's own index: it changes whenever the key is written, so a transaction can
 * make a write conditional on it (`KvWrite.ifIndex`). It is never 0 for a key that exists.
 */
export interface KvEntry {
  key: string;
  value: string;
  modifyIndex?: number;
}

/** Everything under a prefix at one moment, with the store's change index for that prefix. */
export interface Snapshot {
  index: number;
  entries: KvEntry[];
}

/**
 * One write of a transaction: set a value, or delete a key when value is null. With `ifIndex` the write
 * is a check-and-set: it applies only while the key's modifyIndex is still `ifIndex`, where 0 means
 * "the key does not exist"; otherwise the whole transaction fails with a ConflictError. A transaction
 * writes each key at most once (Consul checks each operation against the writes before it in the same
 * transaction, the folder store against the state before the transaction).
 */
export interface KvWrite {
  key: string;
  value: string | null;
  ifIndex?: number;
}

/**
 * The intent store as every agent and the CLI see it. Consul KV in production, a local folder by default.
 * `watch` follows Consul's blocking-query contract: it answers when the prefix's index moves past
 * `afterIndex` or when `waitMs` runs out (then with the same index); `afterIndex` 0 answers at once.
 */
export interface IntentStore {
  readonly description: string;
  read(prefix: string): Promise<Snapshot>;
  watch(prefix: string, afterIndex: number, waitMs: number, signal?: AbortSignal): Promise<Snapshot>;
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Applies every write or none of them, and no reader ever sees some of them without the others.
   * Throws ConflictError, having written nothing, when a write's `ifIndex` no longer holds.
   */
  transaction(writes: KvWrite[]): Promise<void>;
  close(): Promise<void>;
}

/** An error from the store itself (unreachable, 5xx, refused): never a reason to tear anything down. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** A transaction refused because a key changed since it was read (a failed check-and-set): nothing was written. */
export class ConflictError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}
