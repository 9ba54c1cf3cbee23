import { assertSafeName } from './names.js';

/** Default root of every Platypus key in the store. */
export const DEFAULT_PREFIX = 'platypus';

/**
 * Marker key inside a node's intent folder: the operator means this node to hold no apps.
 * Without it an empty or missing node prefix is treated as a possible store fault and nothing is removed.
 */
export const DRAINED_MARKER = '.drained';

/** `<prefix>/intent/`: every node's intent folder lies below it. */
export function intentPrefix(prefix: string): string {
  return `${prefix}/intent/`;
}

/** `<prefix>/intent/<node>/`: the one prefix an agent watches (trailing slash so web1 never matches web10). */
export function nodeIntentPrefix(prefix: string, node: string): string {
  assertSafeName('node', node);
  return `${intentPrefix(prefix)}${node}/`;
}

/** `<prefix>/intent/<node>/<app>`: one app's whole intent as JSON. */
export function appIntentKey(prefix: string, node: string, app: string): string {
  assertSafeName('app', app);
  return nodeIntentPrefix(prefix, node) + app;
}

/** `<prefix>/intent/<node>/.drained`. */
export function drainedKey(prefix: string, node: string): string {
  return nodeIntentPrefix(prefix, node) + DRAINED_MARKER;
}

/**
 * `<prefix>/intent-serial/<node>`: a counter every pp write to the node's intent moves with check-and-set.
 * Each write also checks the keys it read, but that cannot see a key another operator just created (`rm`
 * of what looked like the last app beside a concurrent `put` of a new one); conflicting on this one key can.
 * It lies outside `<prefix>/intent/` so agents never read it as an app.
 */
export function intentSerialKey(prefix: string, node: string): string {
  assertSafeName('node', node);
  return `${prefix}/intent-serial/${node}`;
}

/** `<prefix>/reality/<node>/` (or one agent's folder below it). */
export function realityPrefix(prefix: string, node?: string, agent?: string): string {
  if (node === undefined) return `${prefix}/reality/`;
  assertSafeName('node', node);
  if (agent === undefined) return `${prefix}/reality/${node}/`;
  return `${prefix}/reality/${node}/${agent}/`;
}

/** `<prefix>/reality/<node>/<agent>/<app>`: what one agent observed and did for one app. */
export function realityKey(prefix: string, node: string, agent: string, app: string): string {
  return realityPrefix(prefix, node, agent) + app;
}

/**
 * `<prefix>/locks/<app>/flip/`: the rollout semaphore of one app. `.lock` holds the limit and the holders
 * (check-and-set); each node contending for a slot holds `<node>` with its lease (shared/rollout/semaphore.ts).
 */
export function flipLockPrefix(prefix: string, app: string): string {
  assertSafeName('app', app);
  return `${prefix}/locks/${app}/flip/`;
}

/** Name of the key in an app's rollout semaphore that holds the limit and the holders. */
export const FLIP_LOCK_NAME = '.lock';

/** `<prefix>/locks/<app>/flip/.lock`: the limit and the holders of the app's rollout slots. */
export function flipLockKey(prefix: string, app: string): string {
  return flipLockPrefix(prefix, app) + FLIP_LOCK_NAME;
}

/** `<prefix>/locks/<app>/flip/<node>`: held with the node's lease while it holds or waits for a rollout slot. */
export function flipContenderKey(prefix: string, app: string, node: string): string {
  assertSafeName('node', node);
  return flipLockPrefix(prefix, app) + node;
}

/**
 * `<prefix>/verdicts/` (every app's), `<prefix>/verdicts/<app>/` or one attempt's folder below it: which nodes saw
 * a version fail its health check.
 */
export function verdictPrefix(prefix: string, app?: string, fingerprint?: string): string {
  if (app === undefined) return `${prefix}/verdicts/`;
  assertSafeName('app', app);
  return fingerprint === undefined ? `${prefix}/verdicts/${app}/` : `${prefix}/verdicts/${app}/${fingerprint}/`;
}

/** `<prefix>/verdicts/<app>/<fingerprint>/<node>`: one node's verdict on one attempt. */
export function verdictKey(prefix: string, app: string, fingerprint: string, node: string): string {
  assertSafeName('node', node);
  return verdictPrefix(prefix, app, fingerprint) + node;
}

/**
 * Name of the heartbeat key in an agent's reality folder (`<prefix>/reality/<node>/<agent>/.heartbeat`). Like
 * `.drained`, it starts with a dot, which no app name may: it is never taken for an app's record, never pruned.
 */
export const HEARTBEAT_NAME = '.heartbeat';

/** `<prefix>/reality/<node>/<agent>/.heartbeat`: refreshed by a running agent (shared/loop/heartbeat.ts). */
export function heartbeatKey(prefix: string, node: string, agent: string): string {
  return realityPrefix(prefix, node, agent) + HEARTBEAT_NAME;
}

/** True for a key under reality that is an app's record, not a marker such as `.heartbeat`. */
export function isAppRecordKey(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name !== '' && !name.startsWith('.');
}

/** `<prefix>/deployments/<app>/`: one record per deploy, keyed by an id that sorts by start time. */
export function deploymentsPrefix(prefix: string, app: string): string {
  assertSafeName('app', app);
  return `${prefix}/deployments/${app}/`;
}

/** `<prefix>/locks/<app>/deploy`: held by the one `pp deploy` of the app running now. */
export function deployLockKey(prefix: string, app: string): string {
  assertSafeName('app', app);
  return `${prefix}/locks/${app}/deploy`;
}
