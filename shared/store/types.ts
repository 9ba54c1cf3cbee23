/**
 * One key/value pair of the intent store; keys are '/'-separated and never start with '/'. `modifyIndex`
 * (from `read`) is the key's own index: it changes whenever the key is written, so a transaction can
 * make a write conditional on it (`KvWrite.ifIndex`). It is never 0 for a key that exists.
 */
export interface KvEntry {
  key: string;
  /** The value; '' when `tooLarge` is set. */
  value: string;
  modifyIndex?: number;
  /** The Consul session holding the key (keys written through a LeaseKeeper's claim); absent otherwise. */
  session?: string;
  /**
   * The value's size in bytes when it is over VALUE_LIMIT_BYTES: the store did not read it, so one huge value
   * (written by another tool) costs neither the memory nor the time of reading it, and the read of every other
   * key still answers. Readers report the key (valueTooLarge) instead of reading `value`.
   */
  tooLarge?: number;
}

/**
 * The largest value either store holds, in bytes: Consul's own limit (its default kv_max_value_size), which the
 * folder store keeps too, so a value written to one store fits the other. Inclusive, as Consul's.
 */
export const VALUE_LIMIT_BYTES = 512 * 1024;

/** What is wrong with a value of `bytes` bytes, for messages that name the key before it. */
export function valueTooLarge(bytes: number): string {
  return `value of ${bytes} bytes, over the 512 KiB limit (expected at most ${VALUE_LIMIT_BYTES} bytes)`;
}

/** The UTF-8 size of `value` when it is over VALUE_LIMIT_BYTES; undefined when it fits. */
export function bytesOverLimit(value: string): number | undefined {
  if (value.length * 3 <= VALUE_LIMIT_BYTES) return undefined; // at most 3 UTF-8 bytes per UTF-16 unit: no need to count
  const bytes = Buffer.byteLength(value);
  return bytes > VALUE_LIMIT_BYTES ? bytes : undefined;
}

/** Throws, naming the key and the limit, when a write's value is over VALUE_LIMIT_BYTES: nothing of its transaction is written. */
export function refuseTooLarge(writes: KvWrite[]): void {
  for (const w of writes) {
    const bytes = w.value === null ? undefined : bytesOverLimit(w.value);
    if (bytes !== undefined) throw new StoreError(`cannot write ${w.key}: ${valueTooLarge(bytes)}; nothing written`);
  }
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
 * `afterIndex` or when `waitMs` runs out (then with the same index); `afterIndex` 0 answers at once. In `read` and
 * `watch`, an entry whose value is over VALUE_LIMIT_BYTES comes with `tooLarge` and no value, beside the others.
 */
export interface IntentStore {
  readonly description: string;
  read(prefix: string): Promise<Snapshot>;
  watch(prefix: string, afterIndex: number, waitMs: number, signal?: AbortSignal): Promise<Snapshot>;
  /** One key's value (undefined when absent); throws a StoreError naming the key when its value is over VALUE_LIMIT_BYTES. */
  get(key: string): Promise<string | undefined>;
  /** put and transaction refuse a value over VALUE_LIMIT_BYTES (a StoreError naming the key), as Consul does. */
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Applies every write or none of them, and no reader ever sees some of them without the others.
   * Throws ConflictError, having written nothing, when a write's `ifIndex` no longer holds.
   */
  transaction(writes: KvWrite[]): Promise<void>;
  /** This process's keeper of keys that live only as long as it does (Consul sessions; the process itself on the folder store). */
  leases(options: LeaseOptions): LeaseKeeper;
  close(): Promise<void>;
}

export interface LeaseOptions {
  /** Names the lease in the store (a Consul session's Name), e.g. `pp-setlive web3`. */
  name: string;
  /** How long a holder that stops renewing keeps its keys (a Consul session's TTL; Consul may take up to twice it). */
  ttlMs: number;
}

/** How a held key frees itself once its holder stops renewing (LeaseKeeper.expiry). */
export type LeaseExpiry = { kind: 'ttl'; ttlMs: number } | { kind: 'process' } | { kind: 'gone' };

/**
 * Keys held by a lease: written by `claim`, they vanish (or stop counting) once their holder is gone without
 * releasing them: on Consul when its session expires (the TTL, at worst about twice it) or its Consul agent
 * dies; on the folder store when the holding process is gone. The semaphore of shared/rollout builds on it.
 */
export interface LeaseKeeper {
  /**
   * Writes `key` as the JSON of `fields` plus `lease` (this lease's id), held by this lease, unless another live
   * lease holds it (false then). Claiming a key this lease holds already rewrites its value.
   */
  claim(key: string, fields: Record<string, unknown>): Promise<boolean>;
  /** Deletes `key` when this lease holds it; a key held by another lease is left alone. */
  unclaim(key: string): Promise<void>;
  /** True while the lease that claimed `entry` (an entry read from the store) lives. */
  holderLives(entry: KvEntry): Promise<boolean>;
  /**
   * How `entry`'s key frees itself once its holder stops renewing, for messages: on Consul after its session's TTL
   * (`ttl`, at worst about twice it), on the folder store when the holding process ends (`process`); `gone` when
   * the holder's lease has ended already.
   */
  expiry(entry: KvEntry): Promise<LeaseExpiry>;
  /**
   * Frees `entry`'s key from a holder the caller found gone (its process no longer runs), without waiting for the
   * store to notice: on Consul it destroys the holder's session (its keys go with it); the folder store has nothing
   * to do, a gone process's keys being free already. Never call it for a holder that may still run.
   */
  evict(entry: KvEntry): Promise<void>;
  /**
   * How long a waiter may block on the store before it looks again: a dead holder's keys vanish by themselves on
   * Consul (a change a watch sees), but on the folder store a dead process changes nothing.
   */
  readonly recheckMs: number;
  /**
   * Calls `listener` with the keys this lease held when it finds its lease gone while it still held keys (a Consul
   * session that expired or was destroyed behind its back, e.g. while Consul was unreachable for longer than the
   * TTL): those keys are no longer its own. Never called on the folder store, where the lease is the process itself.
   */
  onLost(listener: (keys: string[]) => void): void;
  /** Gives up every key this lease holds (destroys the session). */
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
