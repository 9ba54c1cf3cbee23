import { intentOf } from './analyze.js';
import { type Expectation, revertState } from './follow.js';
import { digestsOf, type Followed, followPhase, type Watch } from './follow-phase.js';
import { type PhaseWrite, type Writer, writePhase } from './write-phase.js';

/**
 * --auto-revert: on each node still holding what this deploy wrote (`ours`), the intent the plan `found` is written
 * back (check-and-set against our write). Signed, it is signed again, now: the agents accepted this deploy's newer
 * orders and refuse an older one as a rollback. A node that had no intent of the app gets a signed removal.
 */
export function writeRevert(
  w: Writer,
  ours: ReadonlyMap<string, string>,
  found: (node: string) => string | undefined,
): Promise<PhaseWrite> {
  return writePhase(
    w,
    [...ours.keys()],
    (node) => ours.get(node),
    (node) => ({ intent: intentOf(found(node)) ?? null, exact: found(node) }),
  );
}

/** Follows the revert on `nodes`: done once `agent`, answering the intent written back, runs the version live before (`from`). */
export function followRevert(
  watch: Watch,
  x: Expectation,
  agent: string,
  nodes: string[],
  reverted: PhaseWrite,
  from: (node: string) => string | undefined,
): Promise<Followed> {
  return followPhase(watch, {
    phase: 'revert',
    agent,
    nodes,
    stopOnFailure: false,
    x: { ...x, digests: digestsOf(x.app, reverted.values) },
    stateOf: (node, record, _verdict, expected) => revertState(node, record, from(node), expected),
  });
}
