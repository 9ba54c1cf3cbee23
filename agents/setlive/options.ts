import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { defineFlags, type FlagValues } from '../../shared/cli/flags.js';

/** Everything pp-setlive takes from its flags: binaries, folders and timings. */
export interface SetliveConfig {
  /** Path of runit's `chpst`, used in run scripts only when the intent names a user. */
  chpst: string;
  /** Path of runit's `svlogd`, used in every `log/run`. */
  svlogd: string;
  /** The folder `runsvdir` watches (Platypus default /var/service). */
  serviceDir: string;
  /** Where the real service folders live; `<serviceDir>/<app>` links here (default /var/service-stage). */
  stageDir: string;
  /** A service counts as up once runit has reported `run` for this long. */
  settleMs: number;
  /** How long to wait for a service to go down after TERM before it is killed. */
  stopTimeoutMs: number;
  /** How long a start may take to settle when the intent gives no health check. */
  startTimeoutMs: number;
  /** How long to wait for runsvdir to pick up a newly linked service (it scans every 5 s). */
  pickupTimeoutMs: number;
  /** How many apps may be flipped at once. */
  parallel?: number;
  /** A flip that failed its health check is not tried again with the same intent for this long. */
  failedHoldMs: number;
}

/** The flags pp-setlive adds to the shared ones. */
export const SETLIVE_FLAGS = defineFlags({
  // Accepted and ignored, so an args file that passes it still starts the agent: pp-setlive commands runsv through supervise/control.
  sv: { type: 'string', hidden: true, describe: 'ignored (deprecated)' },
  chpst: { type: 'string', default: 'chpst', describe: "path of runit's chpst (used in run scripts when an app names a user)" },
  svlogd: { type: 'string', default: 'svlogd', describe: "path of runit's svlogd (used in log/run scripts)" },
  'service-dir': { type: 'string', default: '/var/service', describe: 'the folder runsvdir watches; each app gets a link here' },
  'stage-dir': { type: 'string', default: '/var/service-stage', describe: "where the apps' runit service folders are written" },
  'settle-seconds': { type: 'number', default: 1, describe: 'a service counts as up once runit has reported it running this long' },
  'stop-timeout-seconds': { type: 'number', default: 10, describe: 'wait this long for a service to stop before it is killed' },
  'start-timeout-seconds': {
    type: 'number',
    default: 30,
    describe: 'how long a start may take to settle when the app has no health check',
  },
  'pickup-timeout-seconds': { type: 'number', default: 20, describe: 'how long to wait for runsvdir to pick up a newly linked service' },
  parallel: {
    type: 'number',
    default: 8,
    describe: "how many apps may be flipped (or waited for) at once; each app's steps stay in order",
  },
  'failed-flip-hold-seconds': {
    type: 'number',
    default: 600,
    describe: 'a version that failed its health check (and was rolled back) is not tried again with the same intent for this long',
  },
  'session-ttl-seconds': {
    type: 'number',
    default: 15,
    describe:
      "TTL of the Consul session that holds this node's rollout slots: a holder that dies frees its slot after this (Consul may take up to twice it)",
  },
});

/** Throws an Error naming the flag when a pp-setlive flag's value is out of range. */
export function checkSetliveFlags(a: FlagValues<typeof SETLIVE_FLAGS>): void {
  for (const flag of [
    'settle-seconds',
    'stop-timeout-seconds',
    'start-timeout-seconds',
    'pickup-timeout-seconds',
    'failed-flip-hold-seconds',
  ] as const) {
    if (a[flag] < 0) throw new Error(`--${flag}: expected a number of seconds >= 0, got ${a[flag]}`);
  }
  const ttl = a['session-ttl-seconds'];
  if (!(ttl >= 10 && ttl <= 86_400))
    throw new Error(`--session-ttl-seconds: expected 10..86400 (Consul's range for a session TTL), got ${ttl}`);
  if (!(a.parallel >= 1)) throw new Error(`--parallel: expected a number >= 1, got ${a.parallel}`);
  const problem = overlapProblem(a['stage-dir'], a['service-dir']);
  if (problem) throw new Error(problem);
}

/** `path` absolute with symlinks resolved as far as it exists, so two spellings of one folder compare equal. */
function canonical(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    return abs === dirname(abs) ? abs : join(canonical(dirname(abs)), basename(abs));
  }
}

/** True when `inner` is `outer` or lies inside it. */
function within(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Why the two folders cannot be used together, or undefined. runsvdir starts every folder in --service-dir,
 * and other services live there; were the stage folder the same (or one inside the other), pp-setlive would
 * see them among its service folders and their links among its own.
 */
export function overlapProblem(stageDir: string, serviceDir: string): string | undefined {
  const stage = canonical(stageDir);
  const service = canonical(serviceDir);
  const how =
    stage === service ? 'is the same folder as' : within(stage, service) ? 'is inside' : within(service, stage) ? 'contains' : undefined;
  if (!how) return undefined;
  return `--stage-dir ${stageDir} ${how} --service-dir ${serviceDir}: they must be separate folders, neither inside the other`;
}

/** Turns parsed flags into the agent's options. */
export function setliveOptions(args: FlagValues<typeof SETLIVE_FLAGS>): SetliveConfig {
  return {
    chpst: args.chpst,
    svlogd: args.svlogd,
    serviceDir: resolve(args['service-dir']),
    stageDir: resolve(args['stage-dir']),
    settleMs: args['settle-seconds'] * 1000,
    stopTimeoutMs: args['stop-timeout-seconds'] * 1000,
    startTimeoutMs: args['start-timeout-seconds'] * 1000,
    pickupTimeoutMs: args['pickup-timeout-seconds'] * 1000,
    failedHoldMs: args['failed-flip-hold-seconds'] * 1000,
    parallel: Math.floor(args.parallel),
  };
}
