import { flippedIntent, intentOf, type RawIntent } from './analyze.js';
import { type Expectation, flipState } from './follow.js';
import { digestsOf, type Followed, followPhase, type Watch } from './follow-phase.js';
import { type PhaseWrite, type Writer, writePhase } from './write-phase.js';

/**
 * Flip: the spec, its version live, is written on every staged node whose intent is still what staging wrote, at
 * once; the agents' rollout slots pace the flips. The version live before (what the plan `found`) stays as
 * prepared, so a revert needs no download.
 */
export function writeFlip(
  w: Writer,
  spec: RawIntent,
  nodes: string[],
  staged: ReadonlyMap<string, string>,
  found: (node: string) => string | undefined,
): Promise<PhaseWrite> {
  return writePhase(
    w,
    nodes,
    (node) => staged.get(node),
    (node, current) => {
      const before = found(node);
      return { intent: flippedIntent(spec, before === undefined ? current : intentOf(before)) };
    },
  );
}

/**
 * Follows the flip on the nodes holding `values` (those just written, and those that held the spec already: holding
 * it is not running it): done once `agent` reports the version converged and current in a record answering that
 * value; failed once a verdict names the node and its rollback is reported, or the agent reports the version failed.
 */
export function followFlip(
  watch: Watch,
  x: Expectation,
  agent: string,
  values: ReadonlyMap<string, string | null | undefined>,
  stopOnFailure: boolean,
): Promise<Followed> {
  return followPhase(watch, {
    phase: 'flip',
    agent,
    nodes: [...values.keys()],
    stopOnFailure,
    x: { ...x, digests: digestsOf(x.app, values) },
    stateOf: flipState,
  });
}
