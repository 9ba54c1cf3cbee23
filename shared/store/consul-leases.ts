import type { KvEntry, LeaseExpiry, LeaseKeeper, LeaseOptions } from './types.js';

/** The Consul calls a lease needs (see ConsulStore.sessionApi). */
export interface SessionApi {
  /** A session with this TTL, Behavior "delete" (its keys vanish with it) and no lock-delay; returns its ID. */
  create(name: string, ttlMs: number): Promise<string>;
  /** False when the session is gone (expired or destroyed). */
  renew(id: string): Promise<boolean>;
  destroy(id: string): Promise<void>;
  /** The session's TTL (`GET session/info/<id>`); undefined when the session is gone. */
  ttlMs(id: string): Promise<number | undefined>;
  /** `PUT kv/<key>?acquire=<session>`: false when another session holds the key. */
  acquire(key: string, value: string, session: string): Promise<boolean>;
  /** Deletes `key` only while `session` holds it. */
  deleteIfHeld(key: string, session: string): Promise<void>;
}

/**
 * A Consul session held only while this process holds keys with it: created on the first claim, renewed every
 * third of its TTL while any key is held, destroyed once none is. So an agent with nothing claimed makes no
 * session requests at all. Operations run one at a time: a claim never races the destroy of the session it uses.
 */
export class ConsulLeases implements LeaseKeeper {
  readonly recheckMs = 60_000;
  private session: string | undefined;
  private readonly held = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly lostListeners: Array<(keys: string[]) => void> = [];

  constructor(
    private readonly api: SessionApi,
    private readonly options: LeaseOptions,
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  claim(key: string, fields: Record<string, unknown>): Promise<boolean> {
    return this.serial(async () => {
      let session = this.session ?? (await this.open());
      let ok = false;
      try {
        try {
          ok = await this.api.acquire(key, JSON.stringify({ ...fields, lease: session }), session);
        } catch (err) {
          // The session may have expired since its last renewal (Consul answers 500 "invalid session"): its keys
          // are gone with it (said to the listeners), and the claim is tried once with a new session.
          if (await this.api.renew(session).catch(() => true)) throw err;
          this.loseSession();
          session = await this.open();
          ok = await this.api.acquire(key, JSON.stringify({ ...fields, lease: session }), session);
        }
      } finally {
        if (ok) this.held.add(key);
        else await this.closeIfIdle();
      }
      return ok;
    });
  }

  unclaim(key: string): Promise<void> {
    return this.serial(async () => {
      if (this.session) await this.api.deleteIfHeld(key, this.session);
      this.held.delete(key);
      await this.closeIfIdle();
    });
  }

  async holderLives(entry: KvEntry): Promise<boolean> {
    // Behavior "delete": a dead session's keys are gone; a key still here is live while some session holds it.
    return entry.session !== undefined && entry.session !== '';
  }

  async expiry(entry: KvEntry): Promise<LeaseExpiry> {
    const ttlMs = entry.session ? await this.api.ttlMs(entry.session) : undefined;
    return ttlMs === undefined ? { kind: 'gone' } : { kind: 'ttl', ttlMs };
  }

  async evict(entry: KvEntry): Promise<void> {
    // Behavior "delete": the key goes with the session. A key held by no session is free to acquire already.
    if (!entry.session || entry.session === this.session) return;
    try {
      await this.api.destroy(entry.session);
    } catch {
      // A token without session:write on the holder's node may still write the key: it goes, the session expires.
      await this.api.deleteIfHeld(entry.key, entry.session);
    }
  }

  onLost(listener: (keys: string[]) => void): void {
    this.lostListeners.push(listener);
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.held.clear();
      await this.closeIfIdle();
    });
  }

  private async open(): Promise<string> {
    const id = await this.api.create(this.options.name, this.options.ttlMs);
    this.session = id;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(1000, this.options.ttlMs / 3));
    this.renewTimer.unref();
    return id;
  }

  /** A failed renewal is tried again at the next tick; a session found gone has lost its keys with it. */
  private async renew(): Promise<void> {
    const id = this.session;
    if (!id) return;
    const alive = await this.api.renew(id).catch(() => true);
    if (!alive && this.session === id) this.loseSession();
  }

  /** The session is gone (expired, invalidated): so are its keys; the listeners hear which. */
  private loseSession(): void {
    const lost = [...this.held];
    this.dropSession();
    this.held.clear();
    if (lost.length > 0) for (const listener of this.lostListeners) listener(lost);
  }

  private dropSession(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    this.session = undefined;
  }

  private async closeIfIdle(): Promise<void> {
    if (this.held.size > 0 || !this.session) return;
    const id = this.session;
    this.dropSession();
    await this.api.destroy(id).catch(() => {
      // Left to expire by its TTL: it holds no key.
    });
  }
}
