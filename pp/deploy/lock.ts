import { hostname, userInfo } from 'node:os';
import { deployLockKey } from '../../shared/keys.js';
import { ownStartTime, processAlive } from '../../shared/process-liveness.js';
import type { IntentStore, KvEntry, LeaseKeeper } from '../../shared/store/types.js';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { CliError } from '../read-spec.js';

function currentUser(): string {
  try {
    return process.env.SUDO_USER || userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}

interface HolderFields {
  user: string;
  host: string;
  pid: number;
  /** The holder's process start time (shared/process-liveness.ts): a later process given the same pid is not it. */
  start?: string;
  since: string;
}

function holderOf(value: string | undefined): Partial<HolderFields> | undefined {
  try {
    const v = JSON.parse(value ?? '') as unknown;
    return v !== null && typeof v === 'object' ? (v as Partial<HolderFields>) : undefined;
  } catch {
    return undefined;
  }
}

/** Who holds a lock, from its value: `alice on ops1 (pid 4242) since 10:00:03Z`. */
export function describeHolder(value: string | undefined): string {
  const v = holderOf(value);
  if (!v) return 'an unreadable holder';
  return `${v.user ?? '?'} on ${v.host ?? '?'} (pid ${v.pid ?? '?'}) since ${v.since ?? '?'}`;
}

/**
 * True when a lock's value names a process of this host that no longer runs (its pid gone, or given to a process
 * that started at another time). A holder of another host, or one the value does not name, cannot be checked here.
 */
function holderGone(value: string): boolean {
  const v = holderOf(value);
  if (v?.host !== hostname() || typeof v.pid !== 'number') return false;
  return !processAlive(v.pid, typeof v.start === 'string' ? v.start : undefined);
}

async function readEntry(store: IntentStore, key: string): Promise<KvEntry | undefined> {
  return (await store.read(key)).entries.find((e) => e.key === key);
}

/** What ends a refusal: when the held lock frees itself, and what to do then. */
async function whenFree(leases: LeaseKeeper, held: KvEntry): Promise<string> {
  const expiry = await leases.expiry(held);
  if (expiry.kind === 'gone') return 'its holder has just ended: the lock is free now, run the command again';
  if (expiry.kind === 'process')
    return holderOf(held.value)?.host === hostname()
      ? 'the lock frees itself as soon as that process ends'
      : 'the lock stays until that deploy ends (a process of another host cannot be checked from here)';
  // Renewed every third of the TTL, so renewed at most now; Consul ends a session up to twice its TTL after that.
  const by = new Date(Date.now() + 2 * expiry.ttlMs).toISOString();
  return `the lock frees itself by ${by} if that process is gone (its Consul session's TTL of ${Math.round(expiry.ttlMs / 1000)} s, which Consul may stretch to twice)`;
}

/**
 * The app's deploy lock, held with a store lease for the whole run (a Consul session renewed every third of its
 * TTL, so a leader election shorter than the TTL is ridden out; the holding process on the folder store). Losing it
 * sets `lost`: every write of the deploy checks it first (assertHeld) and stops with exit 9. A lock whose holder was
 * a process of this host that is gone is taken over at once rather than left to its session's TTL.
 */
export class DeployLock {
  lost: string | undefined;
  /** Set when the lock was taken from a holder whose process was gone: one line saying whose. */
  tookOver: string | undefined;
  private constructor(
    private readonly leases: LeaseKeeper,
    readonly key: string,
    /** Who holds it, as its value says: the deploy's record names the same user. */
    readonly holder: HolderFields,
  ) {}

  static async take(store: IntentStore, prefix: string, app: string, ttlMs: number): Promise<DeployLock> {
    const key = deployLockKey(prefix, app);
    const leases = store.leases({ name: `pp deploy ${app}`, ttlMs });
    const start = ownStartTime();
    const fields: HolderFields = {
      user: currentUser(),
      host: hostname(),
      pid: process.pid,
      ...(start === undefined ? {} : { start }),
      since: new Date().toISOString(),
    };
    const lock = new DeployLock(leases, key, fields);
    leases.onLost(() => {
      lock.lost = `the deploy lock ${key} was lost at ${new Date().toISOString()} (its session expired: the store was unreachable for longer than the TTL)`;
    });
    const found = await readEntry(store, key);
    const dead = found && holderGone(found.value) ? found : undefined;
    if (dead) await leases.evict(dead);
    if (await leases.claim(key, { ...fields })) {
      if (dead)
        lock.tookOver = `took over the deploy lock ${key} from a dead holder: ${describeHolder(dead.value)}, a process of this host that no longer runs`;
      return lock;
    }
    try {
      const held = await readEntry(store, key);
      if (!held)
        throw new CliError(
          `another pp deploy of ${app} held ${key} a moment ago and has released it: run the command again`,
          DEPLOY_EXIT.locked,
        );
      throw new CliError(
        `another pp deploy of ${app} is running: ${describeHolder(held.value)} holds ${key}; ${await whenFree(leases, held)}`,
        DEPLOY_EXIT.locked,
      );
    } finally {
      await leases.close();
    }
  }

  /** Throws (exit 9) once the lock is lost: nothing more may be written. */
  assertHeld(): void {
    if (this.lost)
      throw new CliError(`${this.lost}; stopped writing: the intent written so far stays and the agents go on`, DEPLOY_EXIT.lockLost);
  }

  async release(): Promise<void> {
    await this.leases.unclaim(this.key).catch(() => {});
    await this.leases.close().catch(() => {});
  }
}
