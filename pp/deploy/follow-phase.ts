import { intentDigest } from '../../shared/intent/digest.js';
import { validateAppIntent } from '../../shared/intent/validate.js';
import type { RealityRecord } from '../../shared/reality/record.js';
import type { IntentStore } from '../../shared/store/types.js';
import { readStoredValue, specJsonOf } from '../../shared/trust/envelope.js';
import { awaitRealityChange, type Expectation, type NodePhaseState, readRecords, verdictNodes } from './follow.js';
import { throwIfInterrupted } from './interrupt.js';
import type { Progress } from './progress.js';

/** What following any phase needs: where, which app, until when, where to show progress, and when to stop. */
export interface Watch {
  store: IntentStore;
  prefix: string;
  app: string;
  deadline: number;
  progress: Progress;
  /** Aborted by SIGINT or SIGTERM: following stops at once with Interrupted. */
  signal: AbortSignal;
  /** Called before each wait: throws when the deploy must stop (its lock lost). None when only following. */
  guard?: () => void;
}

/** One phase to follow: the records of `agent` on `nodes`, judged by `stateOf` against the phase's expectation. */
export interface PhaseFollow {
  phase: 'stage' | 'flip' | 'revert';
  agent: string;
  nodes: string[];
  /** Stop at the first failure (once no node is mid-way), instead of following every node to its end. */
  stopOnFailure: boolean;
  /** The version followed and, in `digests`, the intent each node's record must answer. */
  x: Expectation;
  /** Read before each look instead of `x.digests` (pp deploy follow: the intent each node holds now). */
  digests?: () => Promise<ReadonlyMap<string, string>>;
  stateOf: (node: string, record: RealityRecord | undefined, verdict: string | undefined, x: Expectation) => NodePhaseState;
}

export interface Followed {
  states: NodePhaseState[];
  timedOut: boolean;
}

/**
 * The digest (shared/intent/digest.ts) of the app's intent in a stored value, plain or signed: what an agent's record
 * names once it answers that value. Undefined for no value, a removal, or a value no agent would take as valid.
 */
export function digestOfValue(app: string, value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const stored = readStoredValue(value);
  const json = stored.form === 'broken' ? undefined : specJsonOf(stored);
  if (json === undefined) return undefined;
  const checked = validateAppIntent('the value written', app, json);
  return checked.ok ? intentDigest(checked.intent) : undefined;
}

/** The digests of the values a phase wrote (or found), by node. */
export function digestsOf(app: string, values: ReadonlyMap<string, string | null | undefined>): Map<string, string> {
  const digests = new Map<string, string>();
  for (const [node, value] of values) {
    const digest = digestOfValue(app, value);
    if (digest !== undefined) digests.set(node, digest);
  }
  return digests;
}

/**
 * Follows one phase until each node is done or failed, the first failure when `stopOnFailure`, or the deadline.
 * Reality is read on each change (a blocking query on the reality tree, at most every 2 s otherwise); SIGINT or
 * SIGTERM ends the wait at once.
 */
export async function followPhase(w: Watch, f: PhaseFollow): Promise<Followed> {
  let index = 0;
  try {
    for (;;) {
      const [records, verdicts, digests] = await Promise.all([
        readRecords(w.store, w.prefix, f.agent, w.app),
        verdictNodes(w.store, w.prefix, f.x),
        f.digests?.(),
      ]);
      const x = digests ? { ...f.x, digests } : f.x;
      const states = f.nodes.map((n) => f.stateOf(n, records.get(n), verdicts.get(n), x));
      w.progress.show(f.phase, states);
      const settled = states.every((s) => s.state === 'done' || s.state === 'failed');
      // Strict stops at a failure once no node is mid-way: a node rolling back (whose verdict may be what stopped
      // another node first) or mid-flip is reported as it ends, not as it was.
      const stopped = f.stopOnFailure && states.some((s) => s.state === 'failed') && !states.some((s) => s.state === 'busy');
      if (settled || stopped) return { states, timedOut: false };
      if (Date.now() >= w.deadline) return { states, timedOut: true };
      throwIfInterrupted(w.signal);
      w.guard?.();
      try {
        index = await awaitRealityChange(w.store, w.prefix, index, Math.min(2000, w.deadline - Date.now()), w.signal);
      } catch (err) {
        throwIfInterrupted(w.signal);
        throw err;
      }
      throwIfInterrupted(w.signal);
    }
  } finally {
    w.progress.end();
  }
}
