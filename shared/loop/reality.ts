import type { Logger } from 'pino';
import { intentDigest } from '../intent/digest.js';
import type { NodeIntent } from '../intent/node-intent.js';
import type { AppIntent } from '../intent/schema.js';
import { parseJson } from '../json-depth.js';
import { isAppRecordKey, realityKey, realityPrefix } from '../keys.js';
import { stableJson } from '../stable-json.js';
import type { IntentStore, Snapshot } from '../store/types.js';
import { type AppOutcome, decodeEntry, type RealityRecord } from '../reality/record.js';

/** The part of a record that matters for "did anything change": everything but the timestamp. */
function comparable(record: Omit<RealityRecord, 'at'> | RealityRecord): string {
  const { at: _at, ...rest } = record as RealityRecord;
  return stableJson(rest);
}

/** The records in a read of an agent's reality prefix; values that are not records (shared/reality/record.ts) are skipped. */
export function recordsOf(snapshot: Snapshot): RealityRecord[] {
  return snapshot.entries.flatMap((e) => {
    if (!isAppRecordKey(e.key)) return [];
    const decoded = decodeEntry(e);
    return decoded.ok ? [decoded.record] : [];
  });
}

/** Writes per store transaction: Consul takes at most 64 operations in one. */
const TXN_WRITES = 64;

/**
 * Writes one agent's reality records, only when something other than the time changed, and deletes
 * the records of apps that are gone. Remembers what the store holds so an idle agent writes nothing.
 */
export class RealityWriter {
  private known = new Map<string, string>();
  private loaded = false;
  /** Why the last write failed, until one succeeds: `--once` must not exit 0 on a reality it could not record. */
  lastError: string | undefined;
  /** Bumped by invalidate(), so a load that was in flight then does not count as fresh. */
  private generation = 0;

  constructor(
    private readonly store: IntentStore,
    private readonly prefix: string,
    private readonly node: string,
    private readonly agent: string,
    private readonly log: Logger,
  ) {}

  /** Forgets what the store was believed to hold (it was restored or replaced): every record is checked again. */
  invalidate(): void {
    this.loaded = false;
    this.generation += 1;
  }

  private async load(): Promise<RealityRecord[]> {
    const generation = this.generation;
    const snapshot = await this.store.read(realityPrefix(this.prefix, this.node, this.agent));
    // Markers such as the heartbeat are not records: never compared, never pruned.
    this.known = new Map(snapshot.entries.filter((e) => isAppRecordKey(e.key)).map((e) => [e.key, this.comparableOf(e.value)]));
    this.loaded = generation === this.generation;
    return recordsOf(snapshot);
  }

  /** Reads the records the store holds for this agent (unreadable ones skipped); throws when the store cannot answer. */
  async records(): Promise<RealityRecord[]> {
    return this.load();
  }

  /** Digests of the intents seen last, by object: an unchanged intent is not hashed again at every pass. */
  private digests = new WeakMap<AppIntent, string>();

  private digestOf(spec: AppIntent): string {
    let digest = this.digests.get(spec);
    if (digest === undefined) {
      digest = intentDigest(spec);
      this.digests.set(spec, digest);
    }
    return digest;
  }

  /** The stored value as compared with what would be written: as it is, not decoded (decoding drops unknown fields). */
  private comparableOf(json: string): string {
    try {
      return comparable(parseJson(json) as RealityRecord);
    } catch {
      return json;
    }
  }

  /**
   * Writes the outcomes of a pass and, when `prune` is set (the intent was trusted), deletes the records of
   * apps without an outcome. Each record names the digest of the app's intent in `intent` (the one the outcome
   * answers), so a reader can tell an old "converged" from a new one. Store errors are logged and retried on the
   * next pass. Returns keys written.
   */
  async write(outcomes: AppOutcome[], prune: boolean, intent?: NodeIntent): Promise<number> {
    let written = 0;
    try {
      if (!this.loaded) await this.load();
      const wanted = new Set<string>();
      const writes: Array<{ key: string; value: string | null; cmp?: string }> = [];
      for (const o of outcomes) {
        const key = realityKey(this.prefix, this.node, this.agent, o.app);
        wanted.add(key);
        const spec = intent?.apps.get(o.app);
        const record: RealityRecord = { ...o, intentDigest: spec && this.digestOf(spec), agent: this.agent, at: new Date().toISOString() };
        const cmp = comparable(record);
        if (this.known.get(key) !== cmp) writes.push({ key, value: JSON.stringify(record), cmp });
      }
      for (const key of prune ? [...this.known.keys()] : []) if (!wanted.has(key)) writes.push({ key, value: null });
      // In transactions of at most 64 writes (Consul's limit): one lock and one request per batch instead of one per
      // app, which made a 1,000-app first pass spend seconds on the folder store's lock.
      for (let i = 0; i < writes.length; i += TXN_WRITES) {
        const batch = writes.slice(i, i + TXN_WRITES);
        await this.store.transaction(batch.map(({ key, value }) => ({ key, value })));
        for (const w of batch) {
          if (w.cmp === undefined) this.known.delete(w.key);
          else this.known.set(w.key, w.cmp);
        }
        written += batch.length;
      }
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.warn({ action: 'write-reality', err: this.lastError }, 'cannot write reality; will retry next pass');
      this.loaded = false;
    }
    return written;
  }
}
