import { appIntentKey, DRAINED_MARKER, drainedKey, nodeIntentPrefix } from '../shared/keys.js';
import { assertSafeName } from '../shared/names.js';
import type { IntentStore, KvWrite } from '../shared/store/types.js';
import { checkedSpec, CliError } from './read-spec.js';

const TXN_LIMIT = 64;

function nodesOf(list: string): string[] {
  const nodes = list.split(',').map((n) => n.trim()).filter(Boolean);
  if (nodes.length === 0) throw new CliError('no node given', 2);
  for (const n of nodes) {
    try { assertSafeName('node', n); } catch (err) { throw new CliError((err as Error).message, 2); }
  }
  return nodes;
}

/** Validates the spec once per node key, then writes it to every node (and lifts a drained marker) in transactions. */
export async function putIntent(store: IntentStore, prefix: string, nodeList: string, app: string, text: string): Promise<string[]> {
  const nodes = nodesOf(nodeList);
  const keys = nodes.map((n) => appIntentKey(prefix, n, app));
  const value = checkedSpec(`key ${keys[0]!}`, app, text);
  for (const node of nodes) {
    await store.transaction([{ key: appIntentKey(prefix, node, app), value }, { key: drainedKey(prefix, node), value: null }]);
  }
  return keys;
}

/** The stored intent JSON of one app, pretty-printed; CliError 4 when absent. */
export async function getIntent(store: IntentStore, prefix: string, node: string, app: string): Promise<string> {
  const key = appIntentKey(prefix, nodesOf(node)[0]!, app);
  const value = await store.get(key);
  if (value === undefined) throw new CliError(`no intent at ${key}`, 4);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

/** App names under a node, or node names when no node is given. */
export async function listIntent(store: IntentStore, prefix: string, node?: string): Promise<string[]> {
  const base = node ? nodeIntentPrefix(prefix, nodesOf(node)[0]!) : `${prefix}/intent/`;
  const snapshot = await store.read(base);
  const names = new Set<string>();
  for (const { key } of snapshot.entries) {
    const rest = key.slice(base.length);
    if (!node) names.add(rest.split('/')[0]!);
    else if (rest === DRAINED_MARKER) names.add(`${DRAINED_MARKER} (node drained: agents remove every app)`);
    else if (rest && !rest.includes('/')) names.add(rest);
  }
  return [...names].sort();
}

/**
 * Removes one app from a node. Removing its last app also writes the drained marker in the same
 * transaction, so agents can tell an intended empty node from a store that lost its data.
 */
export async function removeIntent(store: IntentStore, prefix: string, nodeList: string, app: string): Promise<void> {
  for (const node of nodesOf(nodeList)) {
    const key = appIntentKey(prefix, node, app);
    const apps = (await store.read(nodeIntentPrefix(prefix, node))).entries.map((e) => e.key);
    if (!apps.includes(key)) throw new CliError(`no intent at ${key}`, 4);
    const last = apps.filter((k) => !k.endsWith(`/${DRAINED_MARKER}`)).length === 1;
    const writes: KvWrite[] = [{ key, value: null }];
    if (last) writes.unshift({ key: drainedKey(prefix, node), value: JSON.stringify({ at: new Date().toISOString() }) });
    await store.transaction(writes);
  }
}

/** Marks nodes drained and removes all their app intents: agents then remove every app they run there. */
export async function drainNodes(store: IntentStore, prefix: string, nodeList: string): Promise<number> {
  let removed = 0;
  for (const node of nodesOf(nodeList)) {
    await store.put(drainedKey(prefix, node), JSON.stringify({ at: new Date().toISOString() }));
    const keys = (await store.read(nodeIntentPrefix(prefix, node))).entries.map((e) => e.key).filter((k) => !k.endsWith(`/${DRAINED_MARKER}`));
    for (let i = 0; i < keys.length; i += TXN_LIMIT) {
      await store.transaction(keys.slice(i, i + TXN_LIMIT).map((key) => ({ key, value: null })));
    }
    removed += keys.length;
  }
  return removed;
}
