import type { RawIntent } from './analyze.js';
import { stagedIntent } from './analyze.js';
import { type Expectation, stageState } from './follow.js';
import { digestsOf, type Followed, followPhase, type Watch } from './follow-phase.js';
import { type PhaseWrite, type Writer, writePhase } from './write-phase.js';

/**
 * Stage: only the new version's entry is added, as prepared, to each node's intent that is still `found(node)` (what
 * the plan read), so nothing running restarts; a node without the app gets the spec with no version live.
 */
export function writeStage(
  w: Writer,
  spec: RawIntent,
  version: string,
  nodes: string[],
  found: (node: string) => string | undefined,
): Promise<PhaseWrite> {
  return writePhase(w, nodes, found, (_node, current) => ({ intent: stagedIntent(spec, current, version) }));
}

/** Follows staging: a node is done once `agent`'s record answering the staged intent lists the version present. */
export function followStage(watch: Watch, x: Expectation, agent: string, staged: PhaseWrite, stopOnFailure: boolean): Promise<Followed> {
  return followPhase(watch, {
    phase: 'stage',
    agent,
    nodes: staged.written,
    stopOnFailure,
    x: { ...x, digests: digestsOf(x.app, staged.values) },
    stateOf: (node, record, _verdict, expected) => stageState(node, record, expected),
  });
}
