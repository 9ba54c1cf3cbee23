import { readFileSync } from 'node:fs';
import type { AppOutcome, RealityRecord } from '../loop/types.js';
import { parseAllowedSigners, type AllowedSigner } from './allowed-signers.js';
import { checkSignature, readStoredValue, type SignedOrder, type StoredValue, verifyOrder, type Verified } from './envelope.js';
import { type SshSignature, VERIFIABLE_KEY_TYPES } from './sshsig.js';

/** What an agent remembers of an app's signed orders: the newest one accepted, and whether it removed the app. */
export interface SignedMemory {
  /** ISO time of the newest accepted order; absent for an app known (from reality) but never accepted signed. */
  at?: string;
  by?: string;
  removed?: boolean;
}

/** The verdict on one app key. */
export type Admitted = { json: string } | { removed: true } | { error: string };

/** What the gate concludes for a node once every key was admitted. */
export interface Settled {
  /** Apps this agent knew that have no key and no signed removal: kept, and reported failed with why. */
  vanished: Map<string, string>;
  /** Apps that may be removed: those removed by a signed order, or every app when a signed drain covers them. */
  removable: ReadonlySet<string> | 'all';
}

/**
 * The trust an agent run with `--trusted-signers` puts in intent: only orders signed by a key of the
 * allowed_signers file count, an order older than the newest accepted for its app is refused (a replay), and an
 * app goes away only on a signed removal or drain. What was accepted is remembered per app in the agent's own
 * reality records (`signed`), read back at start through `recall`, so a restart forgets no accepted time.
 */
export class TrustGate {
  private readonly memory = new Map<string, SignedMemory>();
  /**
   * Signatures found valid, by stored value, for the node's last read and the one being judged: an intent change
   * re-judges every app, and an unchanged value need not be verified again (about 0.1 ms of CPU each).
   */
  private checked = new Map<string, SshSignature>();
  private checking = new Map<string, SshSignature>();
  /** False until this agent's earlier records were read: until then no signed order can be told from a replay. */
  recalled = false;

  constructor(
    readonly signers: AllowedSigner[],
    /** The allowed_signers file, for messages. */
    readonly file: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Reads and parses an allowed_signers file; throws naming the file and line when it is unusable. */
  static fromFile(file: string, clock?: () => Date): TrustGate {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--trusted-signers ${file}: ${(err as Error).message}`);
    }
    const signers = parseAllowedSigners(text, file);
    if (!signers.some((s) => VERIFIABLE_KEY_TYPES.includes(s.keyType) && !s.certAuthority))
      throw new Error(`--trusted-signers ${file}: no ${VERIFIABLE_KEY_TYPES.join(' or ')} key in it: no order could ever be accepted`);
    return new TrustGate(signers, file, clock);
  }

  /** Takes back what the agent's reality records say it accepted before it (re)started. */
  recall(records: RealityRecord[]): void {
    for (const r of records) {
      const signed = (r as { signed?: SignedMemory }).signed;
      const at = typeof signed?.at === 'string' && !Number.isNaN(Date.parse(signed.at)) ? signed.at : undefined;
      this.remember(r.app, { at, by: typeof signed?.by === 'string' ? signed.by : undefined, removed: signed?.removed === true });
    }
    this.recalled = true;
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
    if (!this.recalled)
      return this.refused(
        key,
        "this agent's earlier reality records could not be read yet, so a replayed older order cannot be told apart",
      );
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
    const rollback = this.rollback(app, stored.order);
    if (rollback) return this.refused(key, rollback);
    const removed = stored.order.kind === 'remove';
    this.remember(app, { at: stored.order.signedAt, by: verified.signer, removed });
    return removed ? { removed: true } : { json: JSON.stringify(stored.order.spec) };
  }

  private rollback(app: string, order: SignedOrder): string | undefined {
    const known = this.memory.get(app);
    if (known?.at === undefined || Date.parse(order.signedAt) >= Date.parse(known.at)) return undefined;
    return `signed at ${order.signedAt}, older than the newest order this agent accepted for app ${app} (${known.removed ? 'a removal' : 'a spec'} signed at ${known.at}${known.by ? ` by ${known.by}` : ''}): refused as a rollback`;
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
    if (drainValue !== undefined && this.recalled) {
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
    for (const [app, known] of this.memory) {
      if (present.has(app) || known.removed) continue;
      if (drain && (known.at === undefined || drain.signedAt.getTime() >= Date.parse(known.at))) {
        this.memory.set(app, { at: drain.signedAt.toISOString(), by: drain.signer, removed: true });
        continue;
      }
      const older = drain
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
   * The outcomes to record, each with what was accepted for its app (`signed`), plus a record for every app
   * removed by a signed order that has none: so the removal's time survives a restart and an older spec
   * replayed after it is still refused.
   */
  stamp(outcomes: AppOutcome[]): AppOutcome[] {
    const out = outcomes.map((o) => {
      const known = this.memory.get(o.app);
      return known?.at ? { ...o, signed: { ...known } } : o;
    });
    const seen = new Set(outcomes.map((o) => o.app));
    for (const [app, known] of this.memory) {
      if (seen.has(app) || !known.removed || known.at === undefined) continue;
      out.push({ app, status: 'converged', reason: `removed by a signed order of ${known.at}`, attempts: 0, signed: { ...known } });
    }
    return out;
  }
}
