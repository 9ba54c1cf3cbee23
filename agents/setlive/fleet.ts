import { FlipSemaphore } from '../../shared/rollout/semaphore.js';
import { readVerdicts, recordVerdict, type Verdict } from '../../shared/rollout/verdicts.js';
import type { IntentStore, LeaseKeeper } from '../../shared/store/types.js';

/**
 * What pp-setlive shares with the other nodes through the store: the rollout slots of apps with a `rollout`
 * policy, and the verdicts on versions that failed their health check.
 */
export interface FlipFleet {
  readonly node: string;
  /** Apps whose rollout slot this process holds. */
  heldSlots(): ReadonlySet<string>;
  /** Apps whose slot this process waits for (its contender key claimed): given up by `release`. */
  contendingSlots(): ReadonlySet<string>;
  /** Takes a slot if one is free now; otherwise why not, and a promise that settles when that may have changed. */
  tryAcquire(
    app: string,
    limit: number,
    version: string,
    signal: AbortSignal,
  ): Promise<{ held: true } | { held: false; reason: string; changed: Promise<unknown> }>;
  release(app: string): Promise<boolean>;
  verdicts(app: string, fingerprint: string): Promise<Verdict[]>;
  recordVerdict(app: string, fingerprint: string, verdict: Omit<Verdict, 'node'>): Promise<void>;
  close(): Promise<void>;
}

/** The fleet over the agent's own store: its semaphores use a lease named after the agent and node. */
export function storeFleet(store: IntentStore, prefix: string, node: string, sessionTtlMs: number): FlipFleet {
  let leases: LeaseKeeper | undefined;
  let semaphore: FlipSemaphore | undefined;
  // Made on first use: an agent whose apps have no rollout policy never opens a session.
  const slots = () => {
    leases ??= store.leases({ name: `pp-setlive ${node}`, ttlMs: sessionTtlMs });
    semaphore ??= new FlipSemaphore(store, leases, prefix, node);
    return semaphore;
  };
  return {
    node,
    heldSlots: () => semaphore?.heldApps() ?? new Set(),
    contendingSlots: () => semaphore?.contendingApps() ?? new Set(),
    tryAcquire: (app, limit, version, signal) => slots().tryAcquire(app, limit, version, signal),
    release: (app) => slots().release(app),
    verdicts: (app, fingerprint) => readVerdicts(store, prefix, app, fingerprint),
    recordVerdict: (app, fingerprint, verdict) => recordVerdict(store, prefix, app, fingerprint, { ...verdict, node }),
    close: async () => {
      await leases?.close();
    },
  };
}
