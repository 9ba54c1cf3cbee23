import type { AppStatus } from './types.js';

/** Everything the loop knows about one app at the end of a pass, from which its reported status follows. */
export interface AppFacts {
  /** Its intent could not be read (the validation error). */
  invalid?: string;
  /** It is being applied now: "applying …", or why the action in flight waits. */
  inFlight?: string;
  /**
   * The run in flight retries the last failure (`failed`) of the intent the app still has: the failure stands
   * until a retry succeeds, so a monitor does not see a failing app turn pending at each retry.
   */
  retrying?: boolean;
  /** Its last action failed and waits for its retry (or for a change, when terminal). */
  failed?: string;
  /** The plan itself found a problem (a bad port spec, a held flip, a bug in the plan). */
  planError?: string;
  /** The plan waits for something outside this agent (another agent's install, a required app). */
  pending?: string;
  /** An action said "not yet" (e.g. no rollout slot free): why. */
  notYet?: string;
  /** Its actions are held by the loop: a removal on untrusted intent or without a signed order. */
  held?: string;
  /** It has actions left after being started the maximum number of times for one trigger. */
  notStable?: string;
  /** The first action it has left to do, described. */
  toDo?: string;
  /** Worth reporting, fails nothing and waits for nothing. */
  warning?: string;
}

export interface AppVerdict {
  status: AppStatus;
  reason?: string;
  error?: string;
}

/**
 * The one precedence deciding an app's status: what cannot be read beats what is running, a failure being retried
 * beats the retry in flight, a failure beats what a plan says, the plan's own problem beats its waiting, and an app with nothing left to do is converged (with its
 * warning as the reason). Pure.
 */
export function appVerdict(f: AppFacts): AppVerdict {
  if (f.invalid !== undefined) return { status: 'failed', error: f.invalid };
  if (f.retrying && f.failed !== undefined) return { status: 'failed', error: f.failed, reason: `retrying: ${f.inFlight}` };
  if (f.inFlight !== undefined) return { status: 'pending', reason: f.inFlight };
  if (f.failed !== undefined) return { status: 'failed', error: f.failed };
  if (f.planError !== undefined) return { status: 'failed', error: f.planError };
  if (f.pending !== undefined) return { status: 'pending', reason: f.pending };
  if (f.notYet !== undefined) return { status: 'pending', reason: f.notYet };
  if (f.held !== undefined) return { status: 'pending', reason: f.held };
  if (f.notStable !== undefined) return { status: 'pending', reason: f.notStable };
  if (f.toDo !== undefined) return { status: 'pending', reason: `to do: ${f.toDo}` };
  if (f.warning !== undefined) return { status: 'converged', reason: f.warning };
  return { status: 'converged' };
}
