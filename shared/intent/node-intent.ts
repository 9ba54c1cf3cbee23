import { appIntentKey, DRAINED_MARKER, drainedKey, nodeIntentPrefix } from '../keys.js';
import { type Snapshot, valueTooLarge } from '../store/types.js';
import { readStoredValue, specJsonOf, type StoredValue } from '../trust/envelope.js';
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
  /**
   * With --trusted-signers: the apps that may be removed (removed by a signed order), or 'all' under a signed
   * drain; any other app not intended is kept (the loop holds its removal). Absent: every app not intended may be removed.
   */
  removable?: ReadonlySet<string> | 'all';
}

/** The verdict of an intent gate on one app key. */
export type Admitted = { json: string } | { removed: true } | { error: string };

/** What an intent gate concludes for a node once every key was admitted. */
export interface Settled {
  /** Apps this agent knew that have no key and no signed removal: kept, and reported failed with why. */
  vanished: Map<string, string>;
  /** Apps that may be removed: those removed by a signed order, or every app when a signed drain covers them. */
  removable: ReadonlySet<string> | 'all';
}

/**
 * What reading a node's intent asks of `--trusted-signers` (shared/trust/gate.ts implements it): declared here,
 * where it is used, so reading intent depends on no gate and the gate may depend on what it needs.
 */
export interface IntentGate {
  /** Judges the value at `key` (app `app` of `node`): a spec to validate, a signed removal, or why it is refused. */
  admit(key: string, prefix: string, app: string, node: string, stored: StoredValue, value?: string): Admitted;
  /** What may be removed, and what vanished, given the node's drain marker and the app keys `present`. */
  settle(prefix: string, node: string, base: string, drainedKey: string, drainValue: string | undefined, present: Set<string>): Settled;
}

/**
 * Builds the node's intent from a snapshot of `<prefix>/intent/<node>/`. A value may be a plain spec or a signed
 * envelope (shared/trust/envelope.ts): without `trust` the spec inside an envelope is read like a plain one and a
 * signed removal counts as no key; with `trust` (--trusted-signers) only signed orders count (see IntentGate). A value
 * over the store's size limit or nested too deep makes its app invalid, and only that app. `reader` is the agent
 * that reads it: it checks the core and its own sections and passes over the others' (checkAppIntent); none (pp)
 * checks every section.
 */
export function nodeIntentFromSnapshot(prefix: string, node: string, snapshot: Snapshot, trust?: IntentGate, reader?: string): NodeIntent {
  const base = nodeIntentPrefix(prefix, node);
  const apps = new Map<string, AppIntent>();
  const invalid = new Map<string, string>();
  const present = new Set<string>();
  let drained = false;
  let drainValue: string | undefined;
  for (const { key, value, tooLarge } of snapshot.entries) {
    if (!key.startsWith(base)) continue;
    const app = key.slice(base.length);
    if (app === DRAINED_MARKER) {
      drained = true;
      drainValue = value;
      continue;
    }
    if (app === '' || app.endsWith('/')) continue; // folder placeholders some tools write
    present.add(app);
    if (tooLarge !== undefined) {
      // The store did not read it: whatever it says, the app is invalid, and kept as it is like any invalid app.
      invalid.set(app, `invalid intent at key ${key}: ${valueTooLarge(tooLarge)}`);
      continue;
    }
    const json = specOf(key, prefix, app, node, value, trust);
    if (json === undefined) continue; // removed by a signed order: no app
    if (typeof json !== 'string') {
      invalid.set(app, json.error);
      continue;
    }
    const result = validateAppIntent(`key ${key}`, app, json, reader);
    if (result.ok) apps.set(app, result.intent);
    else invalid.set(app, result.error);
  }
  for (const [app, problem] of basedirConflicts(apps)) {
    apps.delete(app);
    invalid.set(app, `invalid intent at key ${appIntentKey(prefix, node, app)}: field basedir: ${problem}`);
  }
  const marker = drainedKey(prefix, node);
  const intent = judge(node, snapshot.index, marker, apps, invalid, drained);
  if (trust) {
    const settled = trust.settle(prefix, node, base, marker, drainValue, present);
    for (const [app, why] of settled.vanished) invalid.set(app, why);
    intent.removable = settled.removable;
  }
  return intent;
}

/** The spec JSON at `key`; undefined for a removal; `{ error }` for a value that is refused. */
function specOf(
  key: string,
  prefix: string,
  app: string,
  node: string,
  value: string,
  trust?: IntentGate,
): string | undefined | { error: string } {
  const stored = readStoredValue(value);
  if (trust) {
    const admitted = trust.admit(key, prefix, app, node, stored, value);
    if ('error' in admitted) return admitted;
    return 'json' in admitted ? admitted.json : undefined;
  }
  if (stored.form === 'broken') return { error: `invalid intent at key ${key}: ${stored.error}` };
  if (stored.form === 'signed' && stored.order.kind === 'drain')
    return { error: `invalid intent at key ${key}: a signed drain order belongs at ${node}'s ${DRAINED_MARKER} marker, not at an app key` };
  return specJsonOf(stored);
}

function judge(
  node: string,
  index: number,
  marker: string,
  apps: Map<string, AppIntent>,
  invalid: Map<string, string>,
  drained: boolean,
): NodeIntent {
  const empty = apps.size === 0 && invalid.size === 0;
  if (drained && !empty) {
    const distrust = `the node is marked drained yet still has app keys (${[...apps.keys(), ...invalid.keys()].join(', ')}) beside its marker ${marker}: a drain or a put was interrupted, so nothing is removed until it is finished (pp intent drain or pp intent put)`;
    return { node, index, apps, invalid, drained: false, trusted: false, distrust };
  }
  if (!drained && empty) {
    const distrust =
      'node intent is empty and not marked drained: a store fault looks the same, so nothing is removed (drain the node with `pp intent drain` to remove its apps)';
    return { node, index, apps, invalid, drained, trusted: false, distrust };
  }
  return { node, index, apps, invalid, drained, trusted: true };
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

/** False when only signed orders may remove apps (--trusted-signers) and none removed `app`. */
function signedRemovalOf(intent: NodeIntent, app: string): boolean {
  return intent.removable === undefined || intent.removable === 'all' || intent.removable.has(app);
}

/**
 * Why the removal of `app` (no longer intended) waits, when it waits only because the intent is not trusted; for
 * agents to report it instead of a stale record. Undefined when the app is intended, invalid, or may be removed.
 */
export function heldRemoval(intent: NodeIntent, app: string): string | undefined {
  if (intent.apps.has(app) || intent.invalid.has(app)) return undefined;
  if (!intent.trusted) return `removal waits: ${intent.distrust ?? 'node intent not trusted'}`;
  if (!signedRemovalOf(intent, app))
    return `removal waits: no signed removal of app ${app} (with --trusted-signers an app is removed only by pp intent rm --sign-key or pp intent drain --sign-key)`;
  return undefined;
}
