import { jsonDepthProblem } from '../json-depth.js';
import { stableJson } from '../stable-json.js';
import { findSigner, type AllowedSigner } from './allowed-signers.js';
import { fingerprint, parseArmoredSignature, type SshSignature, verifySignature } from './sshsig.js';
import { sshKeygenSign } from './ssh-keygen.js';

/**
 * A signed order, stored as the value of the key it is about, so the order and its signature are written in one
 * write and never read apart:
 * - `intent` at `<prefix>/intent/<node>/<app>`: the app's spec, for the listed nodes;
 * - `remove` at the same key (a tombstone): the app is to be removed from the listed nodes;
 * - `drain` at `<prefix>/intent/<node>/.drained`: the listed nodes are to hold no apps.
 * The signature (SSHSIG, namespace `platypus-intent`) covers the canonical JSON (shared/stable-json.ts) of every
 * other field, so it cannot be moved to another prefix (another fleet or stage sharing the store), another app,
 * another node, another kind of order or another time.
 */

export const SIGN_NAMESPACE = 'platypus-intent';
export const ENVELOPE_FORMAT = 'platypus-signed/1';
/** A signing time this far ahead of the agent's clock is refused: it would make every later order look older. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export type OrderKind = 'intent' | 'remove' | 'drain';

export interface SignedOrder {
  platypus: typeof ENVELOPE_FORMAT;
  kind: OrderKind;
  /**
   * The store prefix the order was signed for (`--prefix`): an order copied under another prefix is refused.
   * Absent in envelopes of an older pp: readable as plain intent, never accepted as a signed order.
   */
  prefix?: string;
  /** Absent for a drain. */
  app?: string;
  nodes: string[];
  /** ISO 8601, UTC. */
  signedAt: string;
  /** The spec as parsed JSON (kind `intent` only). */
  spec?: unknown;
  signature: string;
}

/** What a stored intent value is: a plain spec (what pp writes without --sign-key), a signed order, or an envelope that is broken. */
export type StoredValue = { form: 'plain'; json: string } | { form: 'signed'; order: SignedOrder } | { form: 'broken'; error: string };

/** The exact bytes the signature of `order` covers. */
export function signedMessage(order: Omit<SignedOrder, 'signature'> | SignedOrder): string {
  const { signature: _signature, ...rest } = order as SignedOrder;
  return stableJson(rest);
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/**
 * Classifies a stored value; only a JSON object whose `platypus` field names our format is an envelope. A value
 * that names the format but is not JSON (a byte-order mark, bytes after the closing brace) is a broken envelope:
 * calling it "not signed" would send the operator looking for a missing signature instead of the damage. A value
 * nested deeper than JSON_DEPTH_LIMIT is broken whatever it holds: every reader of it (the agents, pp status, pp
 * intent get) would otherwise run out of stack on it, and fail for every other key with it.
 */
export function readStoredValue(value: string): StoredValue {
  const deep = jsonDepthProblem(value);
  if (deep) return { form: 'broken', error: deep };
  if (!value.includes(ENVELOPE_FORMAT)) return { form: 'plain', json: value };
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch (err) {
    if (value.charCodeAt(0) === 0xfeff) return { form: 'broken', error: 'signed envelope: starts with a byte-order mark' };
    return { form: 'broken', error: `signed envelope: not valid JSON (${(err as Error).message})` };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as { platypus?: unknown }).platypus !== ENVELOPE_FORMAT)
    return { form: 'plain', json: value };
  const o = raw as Record<string, unknown>;
  const problem = (() => {
    if (o.kind !== 'intent' && o.kind !== 'remove' && o.kind !== 'drain') return 'field kind: expected intent, remove or drain';
    if (o.prefix !== undefined && (typeof o.prefix !== 'string' || o.prefix === '')) return 'field prefix: expected the store prefix';
    if (o.kind !== 'drain' && typeof o.app !== 'string') return 'field app: expected a string';
    if (!Array.isArray(o.nodes) || o.nodes.length === 0 || !o.nodes.every((n) => typeof n === 'string'))
      return 'field nodes: expected a non-empty list of node names';
    if (typeof o.signedAt !== 'string' || !ISO_UTC.test(o.signedAt) || Number.isNaN(Date.parse(o.signedAt)))
      return 'field signedAt: expected an ISO 8601 UTC time';
    if (o.kind === 'intent' && (o.spec === null || typeof o.spec !== 'object' || Array.isArray(o.spec)))
      return 'field spec: expected the spec object';
    if (o.kind !== 'intent' && o.spec !== undefined) return `field spec: not expected in a ${o.kind} order`;
    if (typeof o.signature !== 'string') return 'field signature: expected an armored SSH signature';
    const known = new Set(['platypus', 'kind', 'prefix', 'app', 'nodes', 'signedAt', 'spec', 'signature']);
    const unknown = Object.keys(o).find((k) => !known.has(k));
    if (unknown) return `field ${unknown}: unknown field`;
    return undefined;
  })();
  if (problem) return { form: 'broken', error: `signed envelope: ${problem}` };
  return { form: 'signed', order: o as unknown as SignedOrder };
}

/** The spec inside a stored value, as JSON text: the value itself for a plain spec; undefined for a removal or drain. */
export function specJsonOf(stored: StoredValue): string | undefined {
  if (stored.form === 'plain') return stored.json;
  if (stored.form === 'signed' && stored.order.kind === 'intent') return JSON.stringify(stored.order.spec);
  return undefined;
}

/** Who signed an accepted order, and when. */
export interface Verified {
  signedAt: Date;
  /** The allowed_signers principals and key fingerprint, for reality and logs. */
  signer: string;
}

/** Parses the order's signature and checks that it signs the order's content (by whatever key); throws why not. */
export function checkSignature(order: SignedOrder): SshSignature {
  const sig = parseArmoredSignature(order.signature);
  verifySignature(sig, SIGN_NAMESPACE, signedMessage(order));
  return sig;
}

/**
 * Checks an order for `prefix` and `node` (and `app`, unless it is a drain) against the trusted signers at `now`: the kind
 * expected, the app and node bound, the signature valid (`checked`: already checked by checkSignature), and its key
 * allowed to sign in our namespace now. Throws saying what is wrong.
 */
export function verifyOrder(
  order: SignedOrder,
  expect: { kind: OrderKind | OrderKind[]; prefix: string; node: string; app?: string },
  signers: AllowedSigner[],
  now: Date,
  checked?: SshSignature,
): Verified {
  const kinds = Array.isArray(expect.kind) ? expect.kind : [expect.kind];
  if (!kinds.includes(order.kind)) throw new Error(`a signed ${order.kind} order here, expected ${kinds.join(' or ')}`);
  if (order.prefix === undefined)
    throw new Error(`signed without a prefix (by an older pp), so it could be copied from another prefix: sign it again with --sign-key`);
  if (order.prefix !== expect.prefix)
    throw new Error(
      `signed for prefix ${JSON.stringify(order.prefix)}, not ${JSON.stringify(expect.prefix)} (an order is bound to the prefix it was signed for)`,
    );
  if (expect.app !== undefined && order.app !== expect.app)
    throw new Error(`signed for app ${JSON.stringify(order.app)}, not ${JSON.stringify(expect.app)}`);
  if (!order.nodes.includes(expect.node)) throw new Error(`signed for nodes ${order.nodes.join(',')}, which do not include ${expect.node}`);
  const signedAt = new Date(order.signedAt);
  if (signedAt.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS)
    throw new Error(`signed at ${order.signedAt}, in the future of this node's clock (${now.toISOString()})`);
  const sig = checked ?? checkSignature(order);
  const signer = findSigner(signers, sig.publicKey, SIGN_NAMESPACE, now);
  if (signer instanceof Error) throw signer;
  return { signedAt, signer: `${signer.principals.join(',')} (${fingerprint(sig.publicKey)})` };
}

/** What a signing call needs: the key for `ssh-keygen -Y sign -f` (a private key, or a public key whose private half is in ssh-agent). */
export interface SignOptions {
  keyPath: string;
  /** The signing time; now by default. */
  at?: Date;
  /** The ssh-keygen program (default: on PATH). */
  sshKeygen?: string;
}

async function signOrder(order: Omit<SignedOrder, 'signature' | 'platypus'>, options: SignOptions): Promise<string> {
  const unsigned = { platypus: ENVELOPE_FORMAT, ...order } as Omit<SignedOrder, 'signature'>;
  const signature = await sshKeygenSign(options.keyPath, SIGN_NAMESPACE, signedMessage(unsigned), options.sshKeygen);
  return JSON.stringify({ ...unsigned, signature });
}

const sortedNodes = (nodes: string[]) => [...new Set(nodes)].sort();

/**
 * The value to store at `<prefix>/intent/<node>/<app>` for every node in `nodes`: `specJson` (already validated)
 * with one signature covering the prefix, the app, the spec, the nodes and the time. For `pp intent put` and `pp deploy`.
 */
export function signIntent(prefix: string, app: string, nodes: string[], specJson: string, options: SignOptions): Promise<string> {
  const signedAt = (options.at ?? new Date()).toISOString();
  return signOrder({ kind: 'intent', prefix, app, nodes: sortedNodes(nodes), signedAt, spec: JSON.parse(specJson) as unknown }, options);
}

/** A signed tombstone for `<prefix>/intent/<node>/<app>`: the app is to be removed from `nodes`. */
export function signRemoval(prefix: string, app: string, nodes: string[], options: SignOptions): Promise<string> {
  return signOrder({ kind: 'remove', prefix, app, nodes: sortedNodes(nodes), signedAt: (options.at ?? new Date()).toISOString() }, options);
}

/** A signed drain record for `<prefix>/intent/<node>/.drained`: `nodes` are to hold no apps. */
export function signDrain(prefix: string, nodes: string[], options: SignOptions): Promise<string> {
  return signOrder({ kind: 'drain', prefix, nodes: sortedNodes(nodes), signedAt: (options.at ?? new Date()).toISOString() }, options);
}
