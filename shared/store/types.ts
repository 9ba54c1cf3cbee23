/** One key/value pair of the intent store; keys are '/'-separated and never start with '/'. */
export interface KvEntry {
  key: string;
  value: string;
}

/** Everything under a prefix at one moment, with the store's change index for that prefix. */
export interface Snapshot {
  index: number;
  entries: KvEntry[];
}

/** One write of a transaction: set a value, or delete a key when value is null. */
export interface KvWrite {
  key: string;
  value: string | null;
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
  /** Applies every write or none of them. */
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
