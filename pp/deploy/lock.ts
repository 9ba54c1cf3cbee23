import { hostname, userInfo } from 'node:os';
import { deployLockKey } from '../../shared/keys.js';
import type { IntentStore, LeaseKeeper } from '../../shared/store/types.js';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { CliError } from '../read-spec.js';

function currentUser(): string {
  try {
    return process.env.SUDO_USER || userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}

/** Who holds a lock, from its value: `alice on ops1 (pid 4242) since 10:00:03Z`. */
export function describeHolder(value: string | undefined): string {
  try {
    const v = JSON.parse(value ?? '') as { user?: string; host?: string; pid?: number; since?: string };
    return `${v.user ?? '?'} on ${v.host ?? '?'} (pid ${v.pid ?? '?'}) since ${v.since ?? '?'}`;
  } catch {
    return 'an unreadable holder';
  }
}

/**
 * The app's deploy lock, held with a store lease for the whole run (a Consul session renewed every third of its
 * TTL, so a leader election shorter than the TTL is ridden out; the holding process on the folder store). Losing it
 * sets `lost`: every write of the deploy checks it first (assertHeld) and stops with exit 9.
 */
export class DeployLock {
  lost: string | undefined;
  private constructor(
    private readonly leases: LeaseKeeper,
    readonly key: string,
    /** Who holds it, as its value says: the deploy's record names the same user. */
    readonly holder: { user: string; host: string; pid: number; since: string },
  ) {}

  static async take(store: IntentStore, prefix: string, app: string, ttlMs: number): Promise<DeployLock> {
    const key = deployLockKey(prefix, app);
    const leases = store.leases({ name: `pp deploy ${app}`, ttlMs });
    const fields = { user: currentUser(), host: hostname(), pid: process.pid, since: new Date().toISOString() };
    const lock = new DeployLock(leases, key, fields);
    leases.onLost(() => {
      lock.lost = `the deploy lock ${key} was lost at ${new Date().toISOString()} (its session expired: the store was unreachable for longer than the TTL)`;
    });
    if (await leases.claim(key, fields)) return lock;
    await leases.close();
    throw new CliError(`another pp deploy of ${app} is running: ${describeHolder(await store.get(key))} holds ${key}`, DEPLOY_EXIT.locked);
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
