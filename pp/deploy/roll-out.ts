import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { CliError } from '../read-spec.js';
import type { DeployPlan } from './analyze.js';
import { writeFlip, followFlip } from './flip.js';
import type { Expectation, NodePhaseState } from './follow.js';
import type { Watch } from './follow-phase.js';
import { abortedBy, Interrupted, throwIfInterrupted } from './interrupt.js';
import type { DeploymentRecord } from './record.js';
import { followRevert, writeRevert } from './revert.js';
import { followStage, writeStage } from './stage.js';
import type { Writer } from './write-phase.js';

/** What rolling a planned version out needs: how to write, how to follow, and the record to keep up to date. */
export interface RollOut {
  writer: Writer;
  watch: Watch;
  plan: DeployPlan;
  /** The agent that stages versions and the one that puts them live (shared/agent-names.ts). */
  agents: { stages: string; putsLive: string };
  policy: DeploymentRecord['policy']['mode'];
  /** This deploy's record: its phase and each node's result are set here, and saved after each step. */
  record: DeploymentRecord;
  save: () => Promise<void>;
  log: (line: string) => void;
}

/** How a roll-out ended: its outcome, the phase it ended in, the nodes still open then, and what it wrote. */
export interface RollOutEnd {
  outcome: 'succeeded' | 'failed' | 'reverted' | 'timed-out' | 'interrupted';
  phase: 'stage' | 'flip' | 'revert';
  open: NodePhaseState[];
  staged: string[];
  flipped: string[];
  /** Some node's intent changed under the deploy and was left as it was. */
  leftAlone: boolean;
  /** With `interrupted`: the signal. */
  by?: string;
}

/**
 * Stages the version on `todo`, flips it live there, follows it on those and on `unchanged` (which hold the spec
 * already), and, on a failure with --auto-revert, writes back what the plan found. SIGINT or SIGTERM stops it between
 * two steps: a phase's writes are finished, nothing more is written, and the end says interrupted.
 */
export async function rollOut(r: RollOut, todo: string[], unchanged: string[]): Promise<RollOutEnd> {
  const { plan, record, watch } = r;
  const found = new Map(plan.nodes.map((n) => [n.node, n.value]));
  const foundOf = (node: string) => found.get(node);
  const staged = new Map<string, string>();
  const flipped = new Map<string, string>();
  const x: Expectation = { app: plan.app, version: plan.version, sha256: plan.sha256 };
  const strict = r.policy !== 'continue-on-error';
  let phase: RollOutEnd['phase'] = 'stage';
  const end = (outcome: RollOutEnd['outcome'], open: NodePhaseState[], leftAlone = false): RollOutEnd => ({
    outcome,
    phase,
    open,
    staged: [...staged.keys()],
    flipped: [...flipped.keys()],
    leftAlone,
  });

  /** A version failed: strict and loose stop here (the agents' verdicts stop the other nodes); --auto-revert writes each node's intent back as the plan found it. */
  const failed = async (failures: NodePhaseState[]): Promise<RollOutEnd> => {
    r.log(`${plan.version} failed on ${failures.map((s) => `${s.node} (${s.note})`).join('; ')}`);
    if (r.policy !== 'auto-revert') return end('failed', failures);
    throwIfInterrupted(watch.signal);
    phase = 'revert';
    record.phase = 'reverting';
    await r.save();
    const back = await writeRevert(r.writer, new Map([...staged, ...flipped]), foundOf);
    r.log(
      `reverted the intent of ${back.written.length} node(s) to what the plan found${back.changed.length ? `; changed since on ${back.changed.join(', ')}: not overwritten` : ''}`,
    );
    const fromOf = new Map(plan.nodes.map((n) => [n.node, n.from]));
    const revert = await followRevert(
      watch,
      x,
      r.agents.putsLive,
      back.written.filter((n) => flipped.has(n)),
      back,
      (n) => fromOf.get(n),
    );
    for (const s of revert.states)
      if (s.state === 'done' && !record.result[s.node]?.startsWith('failed'))
        record.result[s.node] = `reverted to ${fromOf.get(s.node) ?? 'nothing live'}`;
    if (revert.timedOut)
      r.log(
        `not back yet: ${revert.states
          .filter((s) => s.state !== 'done')
          .map((s) => s.node)
          .join(', ')}`,
      );
    return end('reverted', failures);
  };

  try {
    // 1. Stage: only the new version's entry, prepared, checked against the intent the plan showed.
    throwIfInterrupted(watch.signal);
    const stageWrite = await writeStage(r.writer, plan.spec, plan.version, todo, foundOf);
    for (const [n, value] of stageWrite.values) staged.set(n, value!);
    for (const n of stageWrite.changed) record.result[n] = 'changed: its intent changed since the plan; not overwritten';
    r.log(
      `staged ${plan.version} on ${stageWrite.written.length} node(s)${stageWrite.changed.length ? `; intent changed since the plan on ${stageWrite.changed.join(', ')}: not overwritten` : ''}`,
    );
    await r.save();
    const stage = await followStage(watch, x, r.agents.stages, stageWrite, strict);
    const stageFailed = stage.states.filter((s) => s.state === 'failed');
    for (const s of stageFailed) record.result[s.node] = `failed staging: ${s.note}`;
    if (stage.timedOut)
      return end(
        'timed-out',
        stage.states.filter((s) => s.state !== 'done'),
      );
    if (stageFailed.length && strict) return await failed(stageFailed);
    const ready = stage.states.filter((s) => s.state === 'done').map((s) => s.node);

    // 2. Flip: the spec, its version live, written everywhere at once; the agents' rollout slots pace the flips.
    throwIfInterrupted(watch.signal);
    phase = 'flip';
    record.phase = 'flipping';
    await r.save();
    const flipWrite = await writeFlip(r.writer, plan.spec, ready, staged, foundOf);
    for (const [n, value] of flipWrite.values) flipped.set(n, value!);
    for (const n of flipWrite.changed) record.result[n] = 'changed: its intent changed after staging; not overwritten';
    r.log(`flipping ${plan.version} live on ${flipWrite.written.length} node(s)`);
    const following = new Map<string, string | null | undefined>(unchanged.map((n) => [n, found.get(n)]));
    for (const n of flipWrite.written) following.set(n, flipWrite.values.get(n));
    const flip = await followFlip(watch, x, r.agents.putsLive, following, strict);
    for (const s of flip.states)
      record.result[s.node] = s.state === 'done' ? 'live' : s.state === 'failed' ? `failed: ${s.note}` : `not live: ${s.note ?? s.state}`;
    if (flip.timedOut)
      return end(
        'timed-out',
        flip.states.filter((s) => s.state !== 'done'),
      );
    const failures = [...stageFailed, ...flip.states.filter((s) => s.state === 'failed')];
    if (failures.length) return await failed(failures);
    return end('succeeded', [], stageWrite.changed.length + flipWrite.changed.length > 0);
  } catch (err) {
    // A signing ssh-keygen gets the operator's Ctrl-C too and fails: that is the interruption, not bad input.
    const lockLost = err instanceof CliError && err.exitCode === DEPLOY_EXIT.lockLost;
    if (!(err instanceof Interrupted) && (lockLost || !watch.signal.aborted)) throw err;
    return { ...end('interrupted', []), by: err instanceof Interrupted ? err.by : abortedBy(watch.signal) };
  }
}
