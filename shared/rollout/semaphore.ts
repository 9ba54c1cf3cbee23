import { assertSafeName } from '../names.js';
import { flipContenderKey, flipLockKey, flipLockPrefix } from '../keys.js';
import { ConflictError, type IntentStore, type KvEntry, type LeaseKeeper } from '../store/types.js';

/** One node in a semaphore: a holder (since it took its slot) or a waiter (since it started waiting). */
export interface SlotNode {
  node: string;
  since: string;
  version?: string;
  /** False for a contender key whose lease is gone (on Consul it vanishes by itself; on the folder store it stays until rewritten). */
  live: boolean;
}

/** An app's semaphore as read from the store: the limit it records, the live holders, the other contenders. */
export interface SlotState {
  limit?: number;
  holders: SlotNode[];
  waiters: SlotNode[];
  /** The store's index of the prefix, to block on for the next change. */
  index: number;
  lockEntry?: KvEntry;
}

interface LockValue {
  limit: number;
  holders: Array<{ node: string; since: string }>;
}

function parseLock(entry: KvEntry | undefined): LockValue | undefined {
  if (!entry) return undefined;
  try {
    const v = JSON.parse(entry.value) as Partial<LockValue>;
    if (typeof v.limit !== 'number' || !Array.isArray(v.holders)) return undefined;
    return { limit: v.limit, holders: v.holders.filter((h) => typeof h?.node === 'string' && typeof h.since === 'string') };
  } catch {
    return undefined;
  }
}

function contenderFields(entry: KvEntry): { since: string; version?: string } {
  try {
    const v = JSON.parse(entry.value) as { since?: unknown; version?: unknown };
    return { since: typeof v.since === 'string' ? v.since : '', version: typeof v.version === 'string' ? v.version : undefined };
  } catch {
    return { since: '' };
  }
}

/** Reads an app's semaphore: holders are the nodes the lock lists whose contender key is still held by a live lease. */
export async function readSlots(store: IntentStore, leases: LeaseKeeper, prefix: string, app: string): Promise<SlotState> {
  return slotsOf(await store.read(flipLockPrefix(prefix, app)), leases, prefix, app);
}

/** The semaphore in `snapshot` (of the app's lock prefix): `.lock` lists the holders; every other key there is a contender. */
async function slotsOf(
  snapshot: { index: number; entries: KvEntry[] },
  leases: LeaseKeeper,
  prefix: string,
  app: string,
): Promise<SlotState> {
  const lockPrefix = flipLockPrefix(prefix, app);
  const lockEntry = snapshot.entries.find((e) => e.key === flipLockKey(prefix, app));
  const lock = parseLock(lockEntry);
  const contenders = new Map<string, SlotNode>();
  for (const entry of snapshot.entries) {
    const node = entry.key.slice(lockPrefix.length);
    if (entry === lockEntry || node.includes('/')) continue;
    contenders.set(node, { node, ...contenderFields(entry), live: await leases.holderLives(entry) });
  }
  const holders: SlotNode[] = [];
  for (const h of lock?.holders ?? []) {
    const c = contenders.get(h.node);
    if (c?.live) holders.push({ ...c, since: h.since });
  }
  const holding = new Set(holders.map((h) => h.node));
  const waiters = [...contenders.values()].filter((c) => !holding.has(c.node));
  return { limit: lock?.limit, holders, waiters, index: snapshot.index, lockEntry };
}

/** `10:00:03` from an ISO time (UTC), for one-line reports. */
const clock = (iso: string) => (iso.length >= 19 ? iso.slice(11, 19) : iso || 'an unknown time');

/** "2 of 2 held: web3 since 10:00:03, web7 since 10:00:04". */
export function describeHolders(holders: SlotNode[], limit: number): string {
  const who = holders.map((h) => `${h.node} since ${clock(h.since)}`).join(', ');
  return `${holders.length} of ${limit} held${who ? `: ${who}` : ''}`;
}

export class AbortError extends Error {
  constructor(message = 'aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

/**
 * Consul's semaphore recipe (what `consul lock -n` does) for the flips of one app across nodes: each contending
 * node holds `<lock prefix>/<node>` with its lease; `.lock` lists the holders and the limit and is only ever
 * rewritten with check-and-set; a holder whose contender key lost its lease (agent SIGKILLed, Consul agent gone)
 * no longer counts. Waiting is a blocking read of the prefix, never a loop. Contenders that disagree on the limit
 * wait while the lock holds holders under another limit, as `consul lock` refuses them.
 */
export class FlipSemaphore {
  private readonly held = new Set<string>();
  private readonly contending = new Set<string>();

  constructor(
    private readonly store: IntentStore,
    private readonly leases: LeaseKeeper,
    private readonly prefix: string,
    private readonly node: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    assertSafeName('node', node);
    // A lost lease lost the slots with it: an app kept in `held` would flip again (on a retry) without one.
    leases.onLost((keys) => {
      for (const app of [...this.held, ...this.contending])
        if (keys.includes(flipContenderKey(this.prefix, app, this.node))) {
          this.held.delete(app);
          this.contending.delete(app);
        }
    });
  }

  /** Apps whose slot this process holds. */
  heldApps(): ReadonlySet<string> {
    return this.held;
  }

  /** Apps this process contends for (its contender key is claimed) without holding a slot yet. */
  contendingApps(): ReadonlySet<string> {
    return this.contending;
  }

  /**
   * Tries once to take a slot of `app` under `limit`, without waiting: `held` when it is ours (or was already);
   * otherwise why not, with `changed`, a blocking read that settles once the lock's holders may have changed (or
   * after the lease's recheck interval). The contender key stays claimed meanwhile, so this node is seen waiting;
   * `release` gives it up. Contenders that disagree on the limit wait while the lock holds holders under another
   * limit, as `consul lock` refuses them.
   */
  async tryAcquire(
    app: string,
    limit: number,
    version: string,
    signal: AbortSignal,
  ): Promise<{ held: true } | { held: false; reason: string; changed: Promise<unknown> }> {
    if (this.held.has(app)) return { held: true };
    const lockPrefix = flipLockPrefix(this.prefix, app);
    const mine = flipContenderKey(this.prefix, app, this.node);
    const waitFor = (reason: string, index: number) => ({
      held: false as const,
      reason,
      changed: this.store.watch(lockPrefix, index, this.leases.recheckMs, signal),
    });
    for (;;) {
      if (signal.aborted) throw new AbortError(`stopped while waiting for a rollout slot of ${app}`);
      let snapshot = await this.store.read(lockPrefix);
      if (!this.contending.has(app) || !snapshot.entries.some((e) => e.key === mine)) {
        // Not claimed yet, or our key gone (a lost session, `pp rollout release`): we count for nobody until we claim again.
        this.contending.delete(app);
        if (!(await this.leases.claim(mine, { node: this.node, version, since: this.now().toISOString() })))
          return waitFor(
            `waiting for a rollout slot of ${app}: ${mine} is held by an earlier lease of ${this.node} until it expires`,
            snapshot.index,
          );
        this.contending.add(app);
        snapshot = await this.store.read(lockPrefix);
        if (!snapshot.entries.some((e) => e.key === mine)) continue;
      }
      const state = await slotsOf(snapshot, this.leases, this.prefix, app);
      // Listed already (by an earlier run of this node) is no slot: every admission goes through the check-and-set.
      const others = state.holders.filter((h) => h.node !== this.node);
      if (state.limit !== undefined && state.limit !== limit && others.length > 0)
        return waitFor(
          `waiting for a rollout slot of ${app}: the lock's limit is ${state.limit} (${describeHolders(others, state.limit)}) ` +
            `but this node's intent says maxParallel ${limit}; the lock takes the new limit once its holders are done`,
          snapshot.index,
        );
      if (others.length >= limit)
        return waitFor(`waiting for a rollout slot of ${app} (${describeHolders(others, limit)})`, snapshot.index);
      const holders = [...others.map(({ node, since: s }) => ({ node, since: s })), { node: this.node, since: this.now().toISOString() }];
      try {
        await this.store.transaction([
          { key: flipLockKey(this.prefix, app), value: JSON.stringify({ limit, holders }), ifIndex: state.lockEntry?.modifyIndex ?? 0 },
        ]);
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
      this.contending.delete(app);
      this.held.add(app);
      return { held: true };
    }
  }

  /**
   * Takes a slot of `app` under `limit`, waiting (blocking reads) while all are held; `onWait` gets a one-line
   * reason each time the wait changes. Throws AbortError when `signal` aborts (its contender key is given up).
   */
  async acquire(app: string, limit: number, version: string, signal: AbortSignal, onWait: (reason: string) => void): Promise<void> {
    let lastReason = '';
    try {
      for (;;) {
        const attempt = await this.tryAcquire(app, limit, version, signal);
        if (attempt.held) return;
        if (attempt.reason !== lastReason) onWait(attempt.reason);
        lastReason = attempt.reason;
        await attempt.changed;
      }
    } catch (err) {
      if (this.contending.delete(app)) await this.leases.unclaim(flipContenderKey(this.prefix, app, this.node)).catch(() => {});
      if (signal.aborted) throw new AbortError(`stopped while waiting for a rollout slot of ${app}`);
      throw err;
    }
  }

  /** Gives the slot back: off the lock's holders (check-and-set), then the contender key. True when it held one. */
  async release(app: string): Promise<boolean> {
    const had = this.held.has(app);
    await removeHolder(this.store, this.prefix, app, this.node);
    await this.leases.unclaim(flipContenderKey(this.prefix, app, this.node));
    this.held.delete(app);
    this.contending.delete(app);
    return had;
  }
}

/** Takes `node` off an app's lock (check-and-set, read again on conflict); true when it was listed. */
export async function removeHolder(store: IntentStore, prefix: string, app: string, node: string): Promise<boolean> {
  const key = flipLockKey(prefix, app);
  for (let attempt = 0; ; attempt++) {
    const entry = (await store.read(key)).entries.find((e) => e.key === key);
    const lock = parseLock(entry);
    if (!entry || !lock?.holders.some((h) => h.node === node)) return false;
    const holders = lock.holders.filter((h) => h.node !== node);
    try {
      await store.transaction([{ key: entry.key, value: JSON.stringify({ limit: lock.limit, holders }), ifIndex: entry.modifyIndex ?? 0 }]);
      return true;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 20) throw err;
    }
  }
}
