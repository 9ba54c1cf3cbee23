import { DRAINED_MARKER, nodeIntentPrefix } from '../keys.js';
import type { Snapshot } from '../store/types.js';
import type { AppIntent } from './schema.js';
import { validateAppIntent } from './validate.js';

/**
 * A node's whole intent as one pass sees it. `trusted` is false when the node prefix is empty and not
 * marked drained (that may be a store fault), or holds the drained marker beside app keys (a drain or a
 * put half done): agents must not remove anything on its account; `distrust` says why.
 * Apps whose intent is invalid are in `invalid`, never in `apps`, and must not be treated as removed.
 */
export interface NodeIntent {
  node: string;
  index: number;
  apps: Map<string, AppIntent>;
  invalid: Map<string, string>;
  drained: boolean;
  trusted: boolean;
  distrust?: string;
}

/** Builds the node's intent from a snapshot of `<prefix>/intent/<node>/`. */
export function nodeIntentFromSnapshot(prefix: string, node: string, snapshot: Snapshot): NodeIntent {
  const base = nodeIntentPrefix(prefix, node);
  const apps = new Map<string, AppIntent>();
  const invalid = new Map<string, string>();
  let drained = false;
  for (const { key, value } of snapshot.entries) {
    if (!key.startsWith(base)) continue;
    const app = key.slice(base.length);
    if (app === DRAINED_MARKER) {
      drained = true;
      continue;
    }
    if (app === '' || app.endsWith('/')) continue; // folder placeholders some tools write
    const result = validateAppIntent(`key ${key}`, app, value);
    if (result.ok) apps.set(app, result.intent);
    else invalid.set(app, result.error);
  }
  const empty = apps.size === 0 && invalid.size === 0;
  if (drained && !empty) {
    const distrust = `the node is marked drained yet still has app keys (${[...apps.keys(), ...invalid.keys()].join(', ')}) beside its marker ${base}${DRAINED_MARKER}: a drain or a put was interrupted, so nothing is removed until it is finished (pp intent drain or pp intent put)`;
    return { node, index: snapshot.index, apps, invalid, drained: false, trusted: false, distrust };
  }
  if (!drained && empty) {
    const distrust = 'node intent is empty and not marked drained: a store fault looks the same, so nothing is removed (drain the node with `pp intent drain` to remove its apps)';
    return { node, index: snapshot.index, apps, invalid, drained, trusted: false, distrust };
  }
  return { node, index: snapshot.index, apps, invalid, drained, trusted: true };
}

/** True when the app must be kept on the node: intended, or named by an invalid intent we cannot read. */
export function isKept(intent: NodeIntent, app: string): boolean {
  return !intent.trusted || intent.apps.has(app) || intent.invalid.has(app);
}

/**
 * Why the removal of `app` (no longer intended) waits, when it waits only because the intent is not trusted; for
 * agents to report it instead of a stale record. Undefined when the app is intended, invalid, or may be removed.
 */
export function heldRemoval(intent: NodeIntent, app: string): string | undefined {
  if (intent.trusted || intent.apps.has(app) || intent.invalid.has(app)) return undefined;
  return `removal waits: ${intent.distrust ?? 'node intent not trusted'}`;
}
