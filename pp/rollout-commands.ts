import { flipContenderKey, flipLockPrefix, verdictPrefix } from '../shared/keys.js';
import { readSlots, removeHolder, type SlotNode } from '../shared/rollout/semaphore.js';
import { readVerdicts } from '../shared/rollout/verdicts.js';
import type { IntentStore } from '../shared/store/types.js';
import { renderTable } from './render.js';

const row = (n: SlotNode, what: string) => [
  `  ${n.node}`,
  `${what} since ${n.since || '?'}${n.version ? ` (version ${n.version})` : ''}${n.live ? '' : ' [lease gone]'}`,
];

/** `pp rollout status <app>`: the limit the lock records, who holds a slot, who waits. */
export async function rolloutStatus(store: IntentStore, prefix: string, app: string): Promise<string> {
  const leases = store.leases({ name: 'pp rollout status', ttlMs: 10_000 });
  try {
    const state = await readSlots(store, leases, prefix, app);
    if (state.limit === undefined && state.holders.length === 0 && state.waiters.length === 0)
      return `${app}: no rollout in progress (nothing under ${flipLockPrefix(prefix, app)})`;
    const rows = [...state.holders.map((h) => row(h, 'holds')), ...state.waiters.map((w) => row(w, w.live ? 'waits' : 'waited'))];
    const heading = `${app}: ${state.holders.length} of ${state.limit ?? '?'} slots held, ${state.waiters.length} waiting`;
    return rows.length ? `${heading}\n${renderTable(rows)}` : heading;
  } finally {
    await leases.close();
  }
}

/**
 * `pp rollout release <app> <node>`: frees a slot an agent cannot give back (its node is gone, its session not
 * yet expired): off the lock's holders, and its contender key deleted. A node still flipping finishes its flip.
 */
export async function rolloutRelease(store: IntentStore, prefix: string, app: string, node: string): Promise<string> {
  const listed = await removeHolder(store, prefix, app, node);
  const key = flipContenderKey(prefix, app, node);
  const contender = (await store.read(key)).entries.some((e) => e.key === key);
  if (contender) await store.delete(key);
  if (!listed && !contender) return `${node} holds no rollout slot of ${app} and does not wait for one`;
  return `released ${node}'s ${listed ? 'rollout slot' : 'wait'} of ${app}`;
}

/** `pp verdict ls [app]`: every recorded failure, per app and attempt. */
export async function listVerdicts(store: IntentStore, prefix: string, app?: string, only?: Set<string>): Promise<string> {
  const apps = app ? [app] : (await verdictApps(store, prefix)).filter((a) => !only || only.has(a));
  const lines: string[] = [];
  for (const a of apps) {
    for (const v of await readVerdicts(store, prefix, a)) {
      lines.push(
        `${a} ${v.version} (sha256 ${v.sha256.slice(0, 12)}…, attempt ${v.fingerprint}) failed on ${v.node} at ${v.at}: ${v.output}`,
      );
    }
  }
  return lines.length ? lines.join('\n') : 'no verdicts';
}

async function verdictApps(store: IntentStore, prefix: string): Promise<string[]> {
  const base = verdictPrefix(prefix);
  const { entries } = await store.read(base);
  return [...new Set(entries.map((e) => e.key.slice(base.length).split('/')[0]!))].sort();
}

/** `pp verdict clear <app> <version>`: lifts the verdicts on every attempt of that version (one transaction per 64). */
export async function clearVerdicts(store: IntentStore, prefix: string, app: string, version: string): Promise<number> {
  const keys = (await readVerdicts(store, prefix, app)).filter((v) => v.version === version).map((v) => v.key);
  for (let i = 0; i < keys.length; i += 64) await store.transaction(keys.slice(i, i + 64).map((key) => ({ key, value: null })));
  return keys.length;
}

/** The verdicts on the given apps, as a section for `pp status` (empty when there are none). */
export async function verdictLines(store: IntentStore, prefix: string, apps: string[]): Promise<string> {
  const text = apps.length ? await listVerdicts(store, prefix, undefined, new Set(apps)) : 'no verdicts';
  return text === 'no verdicts' ? '' : `\nVerdicts (lift with pp verdict clear APP VERSION):\n${text}\n`;
}
