import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import Consul from 'consul';
import type { ConsulConfig } from './consul-config.js';
import { ConsulLeases, type SessionApi } from './consul-leases.js';
import {
  ConflictError,
  bytesOverLimit,
  refuseTooLarge,
  StoreError,
  valueTooLarge,
  type IntentStore,
  type KvEntry,
  type KvWrite,
  type LeaseKeeper,
  type LeaseOptions,
  type Snapshot,
} from './types.js';

type RawItem = { Key: string; Value: string | null; ModifyIndex?: number; Session?: string };
/** node-consul's typings lack index/wait/ctx/timeout; this is the subset we pass. */
type GetOpts = { key: string; recurse: true; index?: string; wait?: string; ctx: object; timeout: number };
type KvWithOpts = { get(o: GetOpts): Promise<[IncomingMessage, RawItem[] | undefined]> };

const TXN_MAX_OPS = 64;

function clientFor(url: URL, config: ConsulConfig): Consul {
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        ca: config.caFile ? readFileSync(config.caFile) : undefined,
        cert: config.certFile ? readFileSync(config.certFile) : undefined,
        key: config.keyFile ? readFileSync(config.keyFile) : undefined,
      })
    : undefined;
  const defaults: Record<string, unknown> = {};
  if (config.token) defaults.token = config.token;
  if (config.consistency === 'stale') defaults.stale = true;
  if (config.consistency === 'consistent') defaults.consistent = true;
  // A default timeout for every call but blocking reads (they set their own): a stalled agent must not hang a pass.
  const options = {
    host: url.hostname,
    port: Number(url.port),
    secure,
    defaults,
    timeout: config.requestSlackMs,
    ...(agent ? { agent } : {}),
  };
  return new Consul(options as ConstructorParameters<typeof Consul>[0]);
}

/** What a call needs from the ACL token, to name it when Consul answers 403. */
interface Need {
  right: 'key:read' | 'key:write';
  keys: string[];
}

const UNTRUSTED_CERT = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** What to check when a TLS handshake with Consul failed: which side's certificate, and which variable names it. */
function tlsHint(code: string | undefined, config: ConsulConfig): string {
  if (code && UNTRUSTED_CERT.has(code))
    return `TLS: Consul's certificate is not trusted (${config.caFile ? `CONSUL_CACERT=${config.caFile} did not sign it, or it does not name this host` : 'set CONSUL_CACERT to the CA that signed it'}); `;
  if (code && /CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA/.test(code))
    return `TLS: Consul refused this client's certificate (${config.certFile ? `CONSUL_CLIENT_CERT=${config.certFile} is not signed by a CA it trusts` : 'it verifies incoming connections: set CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY'}); `;
  return '';
}

function describeError(err: unknown, url: URL, config: ConsulConfig, need?: Need): StoreError {
  const e = err as { statusCode?: number; message?: string; code?: string };
  const what = e.statusCode ? `HTTP ${e.statusCode}` : (e.code ?? 'error');
  const denied =
    e.statusCode === 403 && need
      ? `permission denied: the ACL token lacks ${need.right} on ${need.keys.join(', ')} (see deploy/consul/*.hcl); `
      : '';
  return new StoreError(`consul ${url.host}: ${what}: ${denied}${tlsHint(e.code, config)}${e.message ?? String(err)}`, { cause: err });
}

const DURATION_UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };

/** A Go duration as Consul writes a session's TTL (`15s`, `1h0m0s`) in ms; undefined when it is not one. */
export function durationMs(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * DURATION_UNIT_MS[p[2]!]!, 0);
}

/**
 * The production intent store over Consul KV. A read is a (blocking) recursive GET of the prefix; the
 * index is Consul's X-Consul-Index. A connection failure moves on to the next configured address.
 */
export class ConsulStore implements IntentStore {
  readonly description: string;
  private readonly clients: Consul[];
  private current = 0;

  constructor(private readonly config: ConsulConfig) {
    this.clients = config.addresses.map((url) => clientFor(url, config));
    this.description = `consul:${config.addresses.map((u) => u.host).join(',')}`;
  }

  private async call<T>(fn: (client: Consul) => Promise<T>, signal?: AbortSignal, need?: Need): Promise<T> {
    const start = this.current;
    for (let i = 0; ; i++) {
      const at = (start + i) % this.clients.length;
      try {
        const result = await fn(this.clients[at]!);
        this.current = at;
        return result;
      } catch (err) {
        // Connection errors and 5xx (e.g. "No cluster leader") move on to the next agent; a 4xx is the answer.
        const statusCode = (err as { statusCode?: number }).statusCode;
        const last = i === this.clients.length - 1;
        if ((statusCode !== undefined && statusCode < 500) || last || signal?.aborted)
          throw describeError(err, this.config.addresses[at]!, this.config, need);
      }
    }
  }

  read(prefix: string): Promise<Snapshot> {
    return this.watch(prefix, 0, 0);
  }

  /** Blocking query; an `afterIndex` below 1 is a plain read, never a blocking one (a 0 index would busy-loop). */
  async watch(prefix: string, afterIndex: number, waitMs: number, signal?: AbortSignal): Promise<Snapshot> {
    const blocking = afterIndex >= 1 && waitMs > 0;
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const onAbort = () => ctx.emit('cancel');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const [res, body] = await this.call(
        (client) => {
          const opts: GetOpts = { key: prefix, recurse: true, ctx, timeout: waitMs + waitMs / 16 + this.config.requestSlackMs };
          if (blocking) Object.assign(opts, { index: String(afterIndex), wait: `${Math.ceil(waitMs)}ms` });
          return (client.kv as unknown as KvWithOpts).get(opts);
        },
        signal,
        { right: 'key:read', keys: [prefix] },
      );
      if (res.headers['x-consul-results-filtered-by-acls'] === 'true') {
        // A partial read: acting on it would remove the apps the token cannot see.
        throw new StoreError(
          `consul: permission denied: the ACL token lacks key:read on ${prefix} (see deploy/consul/*.hcl): the ACL token cannot read every key under it, and a partial read is refused`,
        );
      }
      const index = Number(res.headers['x-consul-index'] ?? 0);
      const items = Array.isArray(body) ? body : [];
      // A value over the limit (from a Consul whose kv_max_value_size was raised) is listed as the folder store lists one: by size.
      const entries: KvEntry[] = items.map((i) => {
        const tooLarge = bytesOverLimit(i.Value ?? '');
        return {
          key: i.Key,
          value: tooLarge === undefined ? (i.Value ?? '') : '',
          modifyIndex: i.ModifyIndex ?? 0,
          ...(i.Session ? { session: i.Session } : {}),
          ...(tooLarge === undefined ? {} : { tooLarge }),
        };
      });
      return { index: Number.isFinite(index) ? index : 0, entries };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async get(key: string): Promise<string | undefined> {
    const item = await this.call((client) => client.kv.get(key), undefined, { right: 'key:read', keys: [key] });
    const tooLarge = item ? bytesOverLimit(item.Value ?? '') : undefined;
    if (tooLarge !== undefined) throw new StoreError(`cannot read ${key}: ${valueTooLarge(tooLarge)}`);
    return item ? (item.Value ?? '') : undefined;
  }

  /** Refuses a value over the limit before Consul does, with the folder store's words (the key and the limit). */
  async put(key: string, value: string): Promise<void> {
    refuseTooLarge([{ key, value }]);
    const ok = await this.call((client) => client.kv.set(key, value), undefined, { right: 'key:write', keys: [key] });
    if (!ok) throw new StoreError(`consul refused the write of ${key}`);
  }

  async delete(key: string): Promise<void> {
    await this.call((client) => client.kv.del(key), undefined, { right: 'key:write', keys: [key] });
  }

  /**
   * One Consul transaction (all or nothing); Consul takes at most 64 operations in one. A write with
   * `ifIndex` maps to `cas` / `delete-cas` (a set with index 0 creates only), a delete with `ifIndex` 0 to
   * `check-not-exists`; Consul answers 409 when it rolled the transaction back.
   */
  async transaction(writes: KvWrite[]): Promise<void> {
    if (writes.length === 0) return;
    if (writes.length > TXN_MAX_OPS) throw new StoreError(`a transaction takes at most ${TXN_MAX_OPS} writes, got ${writes.length}`);
    refuseTooLarge(writes);
    const ops = writes.map((w) => {
      if (w.value !== null) {
        const Value = Buffer.from(w.value).toString('base64');
        return w.ifIndex === undefined
          ? { KV: { Verb: 'set', Key: w.key, Value } }
          : { KV: { Verb: 'cas', Key: w.key, Value, Index: w.ifIndex } };
      }
      if (w.ifIndex === undefined) return { KV: { Verb: 'delete', Key: w.key } };
      return w.ifIndex === 0
        ? { KV: { Verb: 'check-not-exists', Key: w.key } }
        : { KV: { Verb: 'delete-cas', Key: w.key, Index: w.ifIndex } };
    });
    try {
      await this.call((client) => client.transaction.create(ops as never), undefined, {
        right: 'key:write',
        keys: writes.map((w) => w.key),
      });
    } catch (err) {
      const cause = (err as { cause?: { statusCode?: number; response?: { body?: unknown } } }).cause;
      if (cause?.statusCode === 413) {
        // Consul bounds the whole request of a transaction (txn_max_req_len), where values travel base64-encoded.
        throw new StoreError(
          `consul refused the transaction of ${writes.map((w) => w.key).join(', ')} as too large: its request is ${JSON.stringify(ops).length} bytes (values base64-encoded, a third larger), over Consul's txn_max_req_len (512 KiB unless configured otherwise); nothing of it was written`,
          { cause: err },
        );
      }
      if (cause?.statusCode !== 409) throw err;
      const errors = (cause.response?.body as { Errors?: Array<{ OpIndex: number; What: string }> } | undefined)?.Errors ?? [];
      // An op the token may not do rolls the transaction back too, but it is no conflict: retrying cannot help.
      const denied = errors.filter((e) => /permission denied/i.test(e.What));
      if (denied.length > 0) {
        const keys = denied.map((e) => writes[e.OpIndex]?.key ?? `op ${e.OpIndex}`);
        throw new StoreError(
          `consul: permission denied: the ACL token lacks key:write on ${keys.join(', ')} (see deploy/consul/*.hcl); nothing of this transaction was written (${denied[0]!.What})`,
          { cause: err },
        );
      }
      const why = errors.map((e) => `${writes[e.OpIndex]?.key ?? `op ${e.OpIndex}`}: ${e.What}`).join('; ');
      throw new ConflictError(`consul rolled the transaction back: ${why || (err as Error).message}`, { cause: err });
    }
  }

  leases(options: LeaseOptions): LeaseKeeper {
    return new ConsulLeases(this.sessionApi(), options);
  }

  /** Sessions and held keys, on the client's session and KV calls (node-consul has no lock helper). */
  private sessionApi(): SessionApi {
    return {
      create: async (name, ttlMs) => {
        const ttl = `${Math.ceil(ttlMs / 1000)}s`;
        const created = await this.call((c) => c.session.create({ name, ttl, behavior: 'delete', lockdelay: '0s' }));
        return created.ID;
      },
      renew: async (id) => {
        try {
          await this.call((c) => c.session.renew(id));
          return true;
        } catch (err) {
          if ((err as { cause?: { statusCode?: number } }).cause?.statusCode === 404) return false;
          throw err;
        }
      },
      destroy: async (id) => {
        await this.call((c) => c.session.destroy(id));
      },
      ttlMs: async (id) => {
        const info = (await this.call((c) => c.session.info(id))) as { TTL?: string } | undefined;
        return info?.TTL ? durationMs(info.TTL) : undefined;
      },
      acquire: (key, value, session) => this.call((c) => c.kv.set({ key, value, acquire: session })),
      deleteIfHeld: async (key, session) => {
        const item = await this.call((c) => c.kv.get(key));
        const held = item as { Session?: string; ModifyIndex?: number } | undefined;
        if (held?.Session !== session || held.ModifyIndex === undefined) return;
        await this.call((c) => c.kv.del({ key, cas: held.ModifyIndex }));
      },
    };
  }

  /**
   * The check API of the Consul agent at the first configured address: checks belong to one agent (it syncs them
   * to the servers), so they are not moved when reads fail over to another address.
   */
  agentChecks() {
    const client = this.clients[0]!;
    const url = this.config.addresses[0]!;
    return {
      address: url.host,
      /** Registers (or re-registers: same ID, replaced) the check, then sets its output. */
      register: async (c: { id: string; name: string; ttl: string; notes: string; status: string; output: string }) => {
        try {
          await client.agent.check.register({ id: c.id, name: c.name, ttl: c.ttl, notes: c.notes, status: c.status } as never);
        } catch (err) {
          throw describeError(err, url, this.config);
        }
        await this.updateCheck(c.id, c.status, c.output);
      },
      update: (id: string, status: string, output: string) => this.updateCheck(id, status, output),
    };
  }

  /** PUT /v1/agent/check/{pass,warn,fail}/<id>?note=<output>: the note becomes the check's output. */
  private async updateCheck(id: string, status: string, output: string): Promise<void> {
    const check = this.clients[0]!.agent.check;
    const opts = { id, note: output };
    try {
      if (status === 'passing') await check.pass(opts);
      else if (status === 'warning') await check.warn(opts);
      else await check.fail(opts);
    } catch (err) {
      throw describeError(err, this.config.addresses[0]!, this.config);
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
  }
}
