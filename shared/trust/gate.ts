import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Admitted, IntentGate, Settled } from '../intent/node-intent.js';
import type { SignedMemory } from '../reality/memory.js';
import type { AppOutcome } from '../reality/record.js';
import { parseAllowedSigners, type AllowedSigner } from './allowed-signers.js';
import {
  checkSignature,
  MAX_CLOCK_SKEW_MS,
  readStoredValue,
  type SignedOrder,
  signedMessage,
  type StoredValue,
  verifyOrder,
  type Verified,
} from './envelope.js';
import { type SshSignature, VERIFIABLE_KEY_TYPES } from './sshsig.js';

/** When this agent first saw each app intended on this node (ISO times): no removal signed before that applies. */
export type FirstSeen = ReadonlyMap<string, string>;

/**
 * The trust an agent run with `--trusted-signers` puts in intent: only orders signed by a key of the
 * allowed_signers file for this prefix count, an order older than the newest accepted for its app is refused (a
 * replay), and an app goes away only on a signed removal or drain signed after this agent first saw the app. What
 * was accepted is remembered per app in the agent's state file on the node's disk (`save`, `load`): never read
 * back from reality, which others can write. Reality's `signed` field only reports it.
 */
export class TrustGate implements IntentGate {
  private readonly memory = new Map<string, SignedMemory>();
  /**
   * Signatures found valid, by stored value, for the node's last read and the one being judged: an intent change
   * re-judges every app, and an unchanged value need not be verified again (about 0.1 ms of CPU each).
   */
  private checked = new Map<string, SshSignature>();
  private checking = new Map<string, SshSignature>();
  private firstSeen: FirstSeen = new Map();

  constructor(
    readonly signers: AllowedSigner[],
    /** The allowed_signers file, for messages. */
    readonly file: string,
    private readonly clock: () => Date = () => new Date(),
    /**
     * --max-order-age-days: an order for an app this agent has accepted nothing for yet is refused when older
     * than this (a replay of an old order on a fresh or re-imaged node); absent: any age.
     */
    private readonly maxOrderAgeMs?: number,
  ) {}

  /** Reads and parses an allowed_signers file; throws naming the file and line when it is unusable. */
  static fromFile(file: string, clock?: () => Date, maxOrderAgeMs?: number): TrustGate {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--trusted-signers ${file}: ${(err as Error).message}`);
    }
    const signers = parseAllowedSigners(text, file);
    if (!signers.some((s) => VERIFIABLE_KEY_TYPES.includes(s.keyType) && !s.certAuthority))
      throw new Error(`--trusted-signers ${file}: no ${VERIFIABLE_KEY_TYPES.join(' or ')} key in it: no order could ever be accepted`);
    return new TrustGate(signers, file, clock, maxOrderAgeMs);
  }

  /** What to keep in the state file: the newest accepted order per app, as entries (app names are not object keys). */
  save(): Array<[string, SignedMemory]> {
    return [...this.memory].sort(([a], [b]) => (a < b ? -1 : 1));
  }

  /** Takes back what `save` returned before the agent (re)started; entries that are not well formed are skipped. */
  load(saved: unknown): void {
    if (!Array.isArray(saved)) return;
    for (const entry of saved) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !entry[1] || typeof entry[1] !== 'object') continue;
      const m = entry[1] as Record<string, unknown>;
      const at = typeof m.at === 'string' && !Number.isNaN(Date.parse(m.at)) ? m.at : undefined;
      this.memory.set(entry[0], {
        at,
        by: typeof m.by === 'string' ? m.by : undefined,
        removed: m.removed === true,
        digest: typeof m.digest === 'string' ? m.digest : undefined,
      });
    }
  }

  /** Tells the gate when this agent first saw each app intended, before intent is judged. */
  knowFirstSeen(firstSeen: FirstSeen): void {
    this.firstSeen = firstSeen;
  }

  /** Keeps the newer of what is known and `next` (an unsigned record never hides a signed one). */
  private remember(app: string, next: SignedMemory): void {
    const known = this.memory.get(app);
    if (!known || (next.at !== undefined && (known.at === undefined || Date.parse(next.at) >= Date.parse(known.at))))
      this.memory.set(app, next);
  }

  private refused(key: string, why: string): { error: string } {
    return { error: `invalid intent at key ${key}: refused by --trusted-signers ${this.file}: ${why}` };
  }

  /** Judges the value at `key` (app `app` of `node`): a spec to validate, a signed removal, or why it is refused. */
  admit(key: string, prefix: string, app: string, node: string, stored: StoredValue, value?: string): Admitted {
    if (stored.form === 'plain') return this.refused(key, 'not signed (write it with pp intent put --sign-key)');
    if (stored.form === 'broken') return this.refused(key, stored.error);
    let verified: Verified;
    try {
      const sig = (value !== undefined && this.checked.get(value)) || checkSignature(stored.order);
      if (value !== undefined) this.checking.set(value, sig);
      verified = verifyOrder(stored.order, { kind: ['intent', 'remove'], prefix, node, app }, this.signers, this.clock(), sig);
    } catch (err) {
      return this.refused(key, (err as Error).message);
    }
    const digest = orderDigest(stored.order);
    const problem = this.rollback(app, stored.order, digest) ?? this.tooOld(app, stored.order);
    if (problem) return this.refused(key, problem);
    const removed = stored.order.kind === 'remove';
    if (removed) {
      const early = this.beforeFirstSeen(app, verified.signedAt);
      if (early) return this.refused(key, `a removal ${early}`);
    }
    this.remember(app, { at: stored.order.signedAt, by: verified.signer, removed, digest });
    return removed ? { removed: true } : { json: JSON.stringify(stored.order.spec) };
  }

  private rollback(app: string, order: SignedOrder, digest: string): string | undefined {
    const known = this.memory.get(app);
    if (known?.at === undefined) return undefined;
    const [at, knownAt] = [Date.parse(order.signedAt), Date.parse(known.at)];
    const accepted = `${known.removed ? 'a removal' : 'a spec'} signed at ${known.at}${known.by ? ` by ${known.by}` : ''}`;
    if (at === knownAt && known.digest !== undefined && known.digest !== digest)
      return `signed at ${order.signedAt}, the same instant as the order this agent accepted for app ${app} (${accepted}) but not the same order: two orders for one app and time must be one order, so it is refused`;
    if (at >= knownAt) return undefined;
    return `signed at ${order.signedAt}, older than the newest order this agent accepted for app ${app} (${accepted}): refused as a rollback`;
  }

  /** With --max-order-age-days, an order for an app this agent never accepted one for must be recent. */
  private tooOld(app: string, order: SignedOrder): string | undefined {
    if (this.maxOrderAgeMs === undefined || this.memory.get(app)?.at !== undefined) return undefined;
    const age = this.clock().getTime() - Date.parse(order.signedAt);
    if (age <= this.maxOrderAgeMs) return undefined;
    return `signed at ${order.signedAt}, ${Math.floor(age / 86_400_000)} days ago: this agent has accepted no order for app ${app} yet and takes none older than --max-order-age-days ${this.maxOrderAgeMs / 86_400_000} (sign it again)`;
  }

  /** Why a removal or drain signed at `signedAt` does not apply to `app`: it predates the app on this node. */
  private beforeFirstSeen(app: string, signedAt: Date): string | undefined {
    const since = this.firstSeen.get(app);
    if (since === undefined || signedAt.getTime() + MAX_CLOCK_SKEW_MS >= Date.parse(since)) return undefined;
    return `signed at ${signedAt.toISOString()}, before this agent first saw app ${app} intended on this node (${since}): it was not meant for the app installed since, so it is refused`;
  }

  /**
   * After every key of a node was admitted: the signed drain at `drainedKey` (if its value is one) and the apps
   * this agent knew that no key names (`present`: app keys found, whatever their verdict).
   */
  settle(prefix: string, node: string, base: string, drainedKey: string, drainValue: string | undefined, present: Set<string>): Settled {
    this.checked = this.checking;
    this.checking = new Map();
    let drain: Verified | undefined;
    let drainProblem = '';
    if (drainValue !== undefined) {
      const stored = readStoredValue(drainValue);
      if (stored.form === 'signed') {
        try {
          drain = verifyOrder(stored.order, { kind: 'drain', prefix, node }, this.signers, this.clock());
        } catch (err) {
          drainProblem = `; the drain marker ${drainedKey} is refused: ${(err as Error).message}`;
        }
      } else drainProblem = `; the drain marker ${drainedKey} is not signed (pp intent drain --sign-key signs it)`;
    }
    const vanished = new Map<string, string>();
    // Under a drain, an app seen here since it was signed is kept, accepted orders or not.
    if (drain)
      for (const app of this.firstSeen.keys()) {
        const early = !present.has(app) && !this.memory.has(app) && this.beforeFirstSeen(app, drain.signedAt);
        if (early) vanished.set(app, `no intent at key ${base}${app}, and the signed drain is ${early}: the app is kept as it is`);
      }
    for (const [app, known] of this.memory) {
      if (present.has(app) || known.removed) continue;
      const early = drain && this.beforeFirstSeen(app, drain.signedAt);
      if (drain && !early && (known.at === undefined || drain.signedAt.getTime() >= Date.parse(known.at))) {
        this.memory.set(app, { at: drain.signedAt.toISOString(), by: drain.signer, removed: true });
        continue;
      }
      const older = early
        ? `; the signed drain is ${early}`
        : drain
          ? `; the signed drain of ${drain.signedAt.toISOString()} is older than its spec (${known.at}): refused as a rollback`
          : '';
      vanished.set(
        app,
        `no intent at key ${base}${app} and no signed removal of it${older}${drainProblem}: an app is removed only by a signed order (pp intent rm --sign-key or pp intent drain --sign-key), so it is kept as it is`,
      );
    }
    const removed = new Set([...this.memory].filter(([, m]) => m.removed).map(([app]) => app));
    return { vanished, removable: drain ? 'all' : removed };
  }

  /**
   * The outcomes to record, each with what was accepted for its app (`memory.signed`, a report: the agent recalls
   * it from its state file; also in the top-level `signed` that readers of older versions take), plus a record for
   * every app removed by a signed order that has none, so an operator sees which removal was carried out.
   */
  stamp(outcomes: AppOutcome[]): AppOutcome[] {
    const withSigned = (o: AppOutcome, known: SignedMemory): AppOutcome => ({
      ...o,
      signed: { ...known },
      memory: { ...o.memory, signed: { ...known } },
    });
    const out = outcomes.map((o) => {
      const known = this.memory.get(o.app);
      return known?.at ? withSigned(o, known) : o;
    });
    const seen = new Set(outcomes.map((o) => o.app));
    for (const [app, known] of this.memory) {
      if (seen.has(app) || !known.removed || known.at === undefined) continue;
      out.push(withSigned({ app, status: 'converged', reason: `removed by a signed order of ${known.at}`, attempts: 0 }, known));
    }
    return out;
  }
}

/** sha256 of the text an order's signature covers: two orders are the same order when these are equal. */
function orderDigest(order: SignedOrder): string {
  return createHash('sha256').update(signedMessage(order)).digest('hex');
}
