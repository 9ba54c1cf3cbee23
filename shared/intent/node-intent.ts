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
  for (const [app, problem] of basedirConflicts(apps)) {
    apps.delete(app);
    invalid.set(app, `invalid intent at key ${base}${app}: field basedir: ${problem}`);
  }
  const empty = apps.size === 0 && invalid.size === 0;
  if (drained && !empty) {
    const distrust = `the node is marked drained yet still has app keys (${[...apps.keys(), ...invalid.keys()].join(', ')}) beside its marker ${base}${DRAINED_MARKER}: a drain or a put was interrupted, so nothing is removed until it is finished (pp intent drain or pp intent put)`;
    return { node, index: snapshot.index, apps, invalid, drained: false, trusted: false, distrust };
  }
  if (!drained && empty) {
    const distrust =
      'node intent is empty and not marked drained: a store fault looks the same, so nothing is removed (drain the node with `pp intent drain` to remove its apps)';
    return { node, index: snapshot.index, apps, invalid, drained, trusted: false, distrust };
  }
  return { node, index: snapshot.index, apps, invalid, drained, trusted: true };
}

/**
 * Apps whose basedir is the same as, inside, or around another app's on the node, with why: `current` and
 * `installs/` are per basedir, so two such apps would flip each other's `current` and run each other's code.
 * Both are reported (and so left as they are): the agents cannot tell which was there first.
 */
export function basedirConflicts(apps: Map<string, Pick<AppIntent, 'basedir'>>): Map<string, string> {
  const byDir = new Map<string, string[]>();
  for (const [app, intent] of apps) byDir.set(intent.basedir, [...(byDir.get(intent.basedir) ?? []), app]);
  const out = new Map<string, string>();
  const clash = (app: string, other: string, how: string) => {
    if (!out.has(app)) out.set(app, `${how} of app ${other} (each app needs a basedir of its own, not inside another's)`);
  };
  for (const [dir, owners] of byDir) {
    if (owners.length > 1) for (const app of owners) clash(app, owners.find((o) => o !== app)!, `${dir} is also the basedir`);
    // Each ancestor folder of dir that is another app's basedir nests this one.
    for (let cut = dir.lastIndexOf('/'); cut > 0; cut = dir.lastIndexOf('/', cut - 1)) {
      const outer = byDir.get(dir.slice(0, cut));
      if (!outer) continue;
      for (const app of owners) clash(app, outer[0]!, `${dir} is inside ${dir.slice(0, cut)}, the basedir`);
      for (const app of outer) clash(app, owners[0]!, `${dir.slice(0, cut)} holds ${dir}, the basedir`);
    }
  }
  return out;
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
