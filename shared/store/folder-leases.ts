import { hostname } from 'node:os';
import { ownStartTime, processAlive } from '../process-liveness.js';
import { ConflictError, type IntentStore, type KvEntry, type LeaseExpiry, type LeaseKeeper } from './types.js';

/** `host:pid:start`: a pid alone could name another process once this one is gone. */
function ownLeaseId(): string {
  return `${hostname()}:${process.pid}:${ownStartTime() ?? '0'}`;
}

/** True while the process named by a lease id runs (a lease of another host is taken as alive: it cannot be checked). */
export function leaseProcessLives(lease: unknown): boolean {
  if (typeof lease !== 'string') return false;
  const [host, pid, start] = lease.split(':');
  if (host !== hostname()) return true;
  return processAlive(Number(pid), start);
}

function leaseOf(value: string): unknown {
  try {
    return (JSON.parse(value) as { lease?: unknown }).lease;
  } catch {
    return undefined;
  }
}

/**
 * Leases on the folder store: a claimed key names its holder's process (host, pid and start time), and a key whose
 * process is gone counts as free. The same contract as Consul's sessions, with no TTL: a SIGKILLed holder frees its
 * keys at once, and waiters notice within `recheckMs` (a dead process writes nothing a watch could see).
 */
export class FolderLeases implements LeaseKeeper {
  readonly recheckMs = 2000;
  private readonly id = ownLeaseId();

  constructor(private readonly store: IntentStore) {}

  async claim(key: string, fields: Record<string, unknown>): Promise<boolean> {
    const value = JSON.stringify({ ...fields, lease: this.id });
    for (let attempt = 0; ; attempt++) {
      const entry = (await this.store.read(key)).entries.find((e) => e.key === key);
      if (entry && leaseOf(entry.value) !== this.id && (await this.holderLives(entry))) return false;
      try {
        await this.store.transaction([{ key, value, ifIndex: entry?.modifyIndex ?? 0 }]);
        return true;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= 4) throw err;
      }
    }
  }

  async unclaim(key: string): Promise<void> {
    const entry = (await this.store.read(key)).entries.find((e) => e.key === key);
    if (!entry || leaseOf(entry.value) !== this.id) return;
    await this.store.transaction([{ key, value: null, ifIndex: entry.modifyIndex ?? 0 }]).catch((err) => {
      if (!(err instanceof ConflictError)) throw err;
    });
  }

  async holderLives(entry: KvEntry): Promise<boolean> {
    return leaseProcessLives(leaseOf(entry.value));
  }

  async expiry(entry: KvEntry): Promise<LeaseExpiry> {
    return (await this.holderLives(entry)) ? { kind: 'process' } : { kind: 'gone' };
  }

  async evict(): Promise<void> {
    // A key whose process is gone counts as free already: the next claim overwrites it.
  }

  onLost(): void {
    // The lease is this process: it cannot be lost while the process runs to hear about it.
  }

  async close(): Promise<void> {
    // Nothing to give up: the keys stop counting when this process ends.
  }
}
