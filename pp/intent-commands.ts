import { PP_EXIT } from '../shared/exit-codes.js';
import { jsonDepthProblem } from '../shared/json-depth.js';
import { appIntentKey, DRAINED_MARKER, drainedKey, intentPrefix, intentSerialKey, nodeIntentPrefix } from '../shared/keys.js';
import { assertSafeName } from '../shared/names.js';
import { ConflictError, type IntentStore, type KvEntry, type KvWrite } from '../shared/store/types.js';
import { basedirConflicts } from '../shared/intent/node-intent.js';
import { readStoredValue, type SignOptions, signDrain, signIntent, signRemoval, specJsonOf } from '../shared/trust/envelope.js';
import { type NodeBeats, readHeartbeats } from './heartbeats.js';
import { checkedSpec, CliError } from './read-spec.js';
import { refuseUnsigned, signed, signedOnlyNodes } from './signing.js';
import { refuseSectionsNotUnderstood } from './understood.js';

/** Consul's limit on operations in one transaction. */
const TXN_LIMIT = 64;
/** Read-modify-write attempts on one node before pp gives up on a store that keeps changing under it. */
const CAS_ATTEMPTS = 5;

function nodesOf(list: string): string[] {
  const nodes = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (nodes.length === 0) throw new CliError('no node given', PP_EXIT.usage);
  for (const n of nodes) {
    try {
      assertSafeName('node', n);
    } catch (err) {
      throw new CliError((err as Error).message, PP_EXIT.usage);
    }
  }
  return nodes;
}

/**
 * One read-modify-write of a node's intent that cannot lose another writer's: `plan` turns the node's entries
 * into writes (none: nothing to do), which are applied in one transaction with check-and-set on every key
 * written and on the node's serial key (see intentSerialKey). The serial key is read first, so any write
 * landing after that read, whatever it touched, fails the transaction; then pp reads again and re-plans.
 * Resolves with the writes applied.
 */
async function updateNode(store: IntentStore, prefix: string, node: string, plan: (entries: KvEntry[]) => KvWrite[]): Promise<KvWrite[]> {
  const serialKey = intentSerialKey(prefix, node);
  for (let attempt = 1; ; attempt++) {
    const serial = (await store.read(serialKey)).entries.find((e) => e.key === serialKey);
    const entries = (await store.read(nodeIntentPrefix(prefix, node))).entries;
    const writes = plan(entries);
    if (writes.length === 0) return writes;
    const indexes = new Map(entries.map((e) => [e.key, e.modifyIndex ?? 0]));
    const bump = { key: serialKey, value: String((Number(serial?.value) || 0) + 1), ifIndex: serial?.modifyIndex ?? 0 };
    try {
      await store.transaction([bump, ...writes.map((w) => ({ ...w, ifIndex: indexes.get(w.key) ?? 0 }))]);
      return writes;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      if (attempt >= CAS_ATTEMPTS) {
        throw new CliError(
          `node ${node}: its intent changed under every one of ${CAS_ATTEMPTS} attempts (another writer is busy on it); nothing written by this attempt, try again (${err.message})`,
          PP_EXIT.conflict,
        );
      }
    }
  }
}

/** The app name, or a usage error (exit 2) when it could not be a key and a folder name. */
function appName(app: string): string {
  try {
    assertSafeName('app', app);
  } catch (err) {
    throw new CliError((err as Error).message, PP_EXIT.usage);
  }
  return app;
}

const isMarker = (key: string) => key.endsWith(`/${DRAINED_MARKER}`);

/** A signed removal (tombstone) stands where the app's key was: the app is not on the node. */
const isTombstone = (value: string) => {
  const stored = readStoredValue(value);
  return stored.form === 'signed' && stored.order.kind === 'remove';
};

type Beats = () => Promise<ReadonlyMap<string, NodeBeats>>;

/** Signs the order with `sign`; without it, first refuses (nothing written) when an agent of the nodes of `beats` would refuse it. */
async function orderValue<T>(beats: Beats, what: string, sign: (() => Promise<T>) | undefined) {
  if (sign) return signed(what, sign);
  refuseUnsigned(signedOnlyNodes(await beats()));
  return undefined;
}

/** Refuses a put whose basedir is shared with, inside or around another app's already on the node (the agents would refuse both). */
function refuseSharedBasedir(prefix: string, node: string, app: string, value: string, entries: KvEntry[]): void {
  const base = nodeIntentPrefix(prefix, node);
  const basedirs = new Map<string, { basedir: string }>([[app, JSON.parse(value) as { basedir: string }]]);
  for (const e of entries) {
    const other = e.key.slice(base.length);
    if (other === app || isMarker(e.key) || other.includes('/')) continue;
    try {
      const spec = specJsonOf(readStoredValue(e.value));
      if (spec === undefined) continue;
      const basedir = (JSON.parse(spec) as { basedir?: unknown }).basedir;
      if (typeof basedir === 'string') basedirs.set(other, { basedir });
    } catch {
      // another app's unreadable intent is the agents' to report
    }
  }
  const problem = basedirConflicts(basedirs).get(app);
  if (problem) throw new CliError(`node ${node}: app ${app}: field basedir: ${problem}`, PP_EXIT.usage);
}

/**
 * Validates the spec once per node key, then writes it to every node (and lifts a drained marker) in transactions.
 * With `sign`, the value written is a signed envelope: one signature (one ssh-keygen run) covers every node. Unless
 * `force`, a section that an agent of a node would not understand (by the agents' heartbeats) is refused first.
 */
export async function putIntent(
  store: IntentStore,
  prefix: string,
  nodeList: string,
  app: string,
  text: string,
  sign?: SignOptions,
  force = false,
): Promise<string[]> {
  appName(app);
  const nodes = nodesOf(nodeList);
  const keys = nodes.map((n) => appIntentKey(prefix, n, app));
  const spec = checkedSpec(`key ${keys[0]!}`, app, text);
  const beats = await readHeartbeats(store, prefix, nodes);
  // Before signing: a passphrase or a touch is not asked for an intent that is refused anyway.
  refuseSectionsNotUnderstood(JSON.parse(spec), beats, force);
  const signing = sign && (() => signIntent(prefix, app, nodes, spec, sign));
  const value = (await orderValue(async () => beats, `the intent of ${app}`, signing)) ?? spec;
  for (const node of nodes) {
    await updateNode(store, prefix, node, (entries) => {
      refuseSharedBasedir(prefix, node, app, spec, entries);
      const writes: KvWrite[] = [{ key: appIntentKey(prefix, node, app), value }];
      if (entries.some((e) => isMarker(e.key))) writes.push({ key: drainedKey(prefix, node), value: null });
      return writes;
    });
  }
  return keys;
}

/**
 * The stored intent JSON of one app, pretty-printed; CliError 4 when absent, 1 naming the key and the limit when it
 * is nested too deep to print (the store's get refuses one over its size limit the same way).
 */
export async function getIntent(store: IntentStore, prefix: string, node: string, app: string): Promise<string> {
  appName(app);
  const key = appIntentKey(prefix, nodesOf(node)[0]!, app);
  const stored = await store.get(key);
  if (stored === undefined) throw new CliError(`no intent at ${key}`, PP_EXIT.notFound);
  const deep = jsonDepthProblem(stored);
  if (deep) throw new CliError(`invalid intent at key ${key}: ${deep}`, PP_EXIT.failure);
  const read = readStoredValue(stored);
  if (read.form === 'signed' && read.order.kind !== 'intent')
    throw new CliError(`no intent at ${key}: a signed ${read.order.kind} order of ${read.order.signedAt} stands there`, PP_EXIT.notFound);
  // A signed envelope prints as its spec, so `pp intent get … | pp intent put …` works the same for both.
  const value = specJsonOf(read) ?? stored;
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

/** App names under a node, or node names when no node is given. */
export async function listIntent(store: IntentStore, prefix: string, node?: string): Promise<string[]> {
  const base = node ? nodeIntentPrefix(prefix, nodesOf(node)[0]!) : intentPrefix(prefix);
  const snapshot = await store.read(base);
  const names = new Set<string>();
  for (const { key, value } of snapshot.entries) {
    const rest = key.slice(base.length);
    if (node && isTombstone(value)) continue;
    if (!node) names.add(rest.split('/')[0]!);
    else if (rest === DRAINED_MARKER) names.add(`${DRAINED_MARKER} (node drained: agents remove every app)`);
    else if (rest && !rest.includes('/')) names.add(rest);
  }
  return [...names].sort();
}

/**
 * Removes one app from a node. Removing its last app also writes the drained marker in the same
 * transaction, so agents can tell an intended empty node from a store that lost its data. With `sign`, the key is
 * not deleted but replaced by a signed removal (one signature for every node): agents run with --trusted-signers
 * remove an app only on such an order.
 */
export async function removeIntent(store: IntentStore, prefix: string, nodeList: string, app: string, sign?: SignOptions): Promise<void> {
  appName(app);
  const nodes = nodesOf(nodeList);
  const beats = () => readHeartbeats(store, prefix, nodes);
  const tombstone = (await orderValue(beats, `the removal of ${app}`, sign && (() => signRemoval(prefix, app, nodes, sign)))) ?? null;
  for (const node of nodes) {
    const key = appIntentKey(prefix, node, app);
    await updateNode(store, prefix, node, (entries) => {
      const apps = entries.filter((e) => !isMarker(e.key) && !isTombstone(e.value)).map((e) => e.key);
      if (!apps.includes(key)) throw new CliError(`no intent at ${key}`, PP_EXIT.notFound);
      const writes: KvWrite[] = [{ key, value: tombstone }];
      if (apps.length === 1) writes.unshift({ key: drainedKey(prefix, node), value: JSON.stringify({ at: new Date().toISOString() }) });
      return writes;
    });
  }
}

/**
 * Marks nodes drained and removes all their app intents: agents then remove every app they run there.
 * The marker goes in the first transaction; a node with more apps than fit in one transaction is
 * finished in further ones (agents trust none of it until the last, see nodeIntentFromSnapshot). With `sign`, the
 * marker holds a signed drain order (one signature for every node), which agents run with --trusted-signers need.
 */
export async function drainNodes(store: IntentStore, prefix: string, nodeList: string, sign?: SignOptions): Promise<number> {
  let removed = 0;
  const nodes = nodesOf(nodeList);
  const beats = () => readHeartbeats(store, prefix, nodes);
  const marker = await orderValue(beats, 'the drain', sign && (() => signDrain(prefix, nodes, sign)));
  for (const node of nodes) {
    for (;;) {
      const applied = await updateNode(store, prefix, node, (entries) => {
        const writes: KvWrite[] = [];
        const current = entries.find((e) => isMarker(e.key));
        if (!current || (marker !== undefined && current.value !== marker))
          writes.push({ key: drainedKey(prefix, node), value: marker ?? JSON.stringify({ at: new Date().toISOString() }) });
        const room = TXN_LIMIT - 1 - writes.length; // one operation goes to the serial key
        for (const e of entries.filter((e) => !isMarker(e.key)).slice(0, room)) writes.push({ key: e.key, value: null });
        return writes;
      });
      if (applied.length === 0) break;
      removed += applied.filter((w) => w.value === null && !isMarker(w.key)).length;
    }
  }
  return removed;
}
