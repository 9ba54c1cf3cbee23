import { describeCleanLeftovers, type CleanLeftoversAction } from '../../shared/leftovers.js';
import type { HealthIntent } from '../../shared/intent/schema.js';
import { MANAGED_FILE } from './ownership.js';

/**
 * One step of pp-setlive. A flip is the sequence stop → write-service → swap-current → link-service →
 * start → await-health → confirm (each present only when needed); a held attempt not yet rolled back all the
 * way is finished by roll-back; a removal is unlink-service → exit-service → remove-stage. A folder of ours that
 * lacks its marker (known by its run script, see ownership.ts) is first adopted: adopt-service writes the marker.
 * Every step is idempotent, so a run killed anywhere is finished by the next.
 */
export type SetliveAction =
  | CleanLeftoversAction
  | AcquireSlotAction
  | { kind: 'release-slot'; app: string }
  | { kind: 'stop'; app: string; dir: string }
  | { kind: 'write-service'; app: string; dir: string; run: string; logRun: string }
  /** `dir` is the app's stage folder, where the flip's starting point is recorded (FLIP_FILE). */
  | { kind: 'swap-current'; app: string; basedir: string; target: string; dir: string }
  | { kind: 'link-service'; app: string; link: string; dir: string }
  | { kind: 'start'; app: string; dir: string }
  | AwaitHealthAction
  | RollBackAction
  | { kind: 'confirm'; app: string; dir: string; target: string }
  | { kind: 'adopt-service'; app: string; dir: string }
  | { kind: 'unlink-service'; app: string; link: string; dir: string }
  | { kind: 'exit-service'; app: string; dir: string }
  | { kind: 'remove-stage'; app: string; dir: string };

/** The actions that take an app off the node: the loop admits them only when the app may be removed. */
export const SETLIVE_REMOVALS: readonly SetliveAction['kind'][] = ['unlink-service', 'exit-service', 'remove-stage'];

/**
 * Takes a rollout slot of the app (waiting while the fleet holds all of them), then reads the verdicts on the
 * attempt once more: a version that failed on `maxFailures` nodes while this one waited is not tried here.
 */
export interface AcquireSlotAction {
  kind: 'acquire-slot';
  app: string;
  version: string;
  limit: number;
  fingerprint: string;
  maxFailures: number;
}

/**
 * Waits for the started version to be up and healthy. On failure it points `current` back at
 * `rollbackTo` (when set), restarts that version and throws with the check's output.
 */
export interface AwaitHealthAction {
  kind: 'await-health';
  app: string;
  version: string;
  dir: string;
  basedir: string;
  target: string;
  health?: HealthIntent;
  timeoutMs: number;
  rollbackTo?: string;
  /** The attempt's intent (flipFingerprint), recorded when it fails so the same attempt is held. */
  fingerprint: string;
  /** The version's artifact digest, for the verdict a failure leaves for the other nodes. */
  sha256: string;
  /** Once healthy, it must stay healthy this long (rollout.minHealthySeconds) before the flip counts as done. */
  minHealthyMs: number;
}

/**
 * Finishes the rollback of a held attempt (its failure is recorded, FAILED_FILE): points `current` back at `to`
 * unless it is there already (`restart` also when the process runs an old setup), puts `last` back, starts
 * `to` and waits for it. It never flips to the failed `target`, so a hold never keeps the app down.
 */
export interface RollBackAction {
  kind: 'roll-back';
  app: string;
  version: string;
  dir: string;
  basedir: string;
  target: string;
  to: string;
  restart: boolean;
  health?: HealthIntent;
  timeoutMs: number;
}

/** One line per action for logs and --dry-run. */
export function describeAction(a: SetliveAction): string {
  switch (a.kind) {
    case 'clean-leftovers':
      return describeCleanLeftovers(a);
    case 'acquire-slot':
      return `take a rollout slot of ${a.app} (at most ${a.limit} node${a.limit === 1 ? '' : 's'} flipping at once)`;
    case 'release-slot':
      return `give back the rollout slot of ${a.app}`;
    case 'stop':
      return `stop service ${a.dir}`;
    case 'write-service':
      return `write runit service folder ${a.dir} (run, log/run)`;
    case 'swap-current':
      return `point ${a.basedir}/current at ${a.target} (previous target becomes last)`;
    case 'link-service':
      return `link ${a.link} -> ${a.dir}`;
    case 'start':
      return `start service ${a.dir}`;
    case 'await-health': {
      const check = a.health?.http ? `GET ${a.health.http}` : a.health?.command ? `\`${a.health.command.join(' ')}\`` : 'no check';
      const back = a.rollbackTo ? `; on failure roll back to ${a.rollbackTo}` : '; nothing to roll back to';
      const hold = a.minHealthyMs > 0 ? `, then healthy for ${a.minHealthyMs} ms` : '';
      return `await ${a.app} ${a.version} up and healthy within ${a.timeoutMs} ms${hold} (${check})${back}`;
    }
    case 'roll-back':
      return `${a.restart ? `point ${a.basedir}/current back at ${a.to}, ` : ''}start it and await it (${a.app} ${a.version} failed and is held)`;
    case 'confirm':
      return `record ${a.target} as healthy in ${a.dir}`;
    case 'adopt-service':
      return `adopt ${a.dir}, written by an earlier pp-setlive (mark it ${MANAGED_FILE})`;
    case 'unlink-service':
      return `unlink ${a.link}`;
    case 'exit-service':
      return `stop service ${a.dir} and its runsv`;
    case 'remove-stage':
      return `remove service folder ${a.dir}`;
  }
}
