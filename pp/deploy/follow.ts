import { realityPrefix } from '../../shared/keys.js';
import { detailsOf } from '../../shared/reality/details.js';
import { type RealityRecord, realityEntries } from '../../shared/reality/record.js';
import { readVerdicts } from '../../shared/rollout/verdicts.js';
import type { IntentStore } from '../../shared/store/types.js';

/** Where a node is in a phase: done (prepared / live), in progress, or failed. */
export type NodePhaseState = { node: string; state: 'waiting' | 'busy' | 'done' | 'failed'; note?: string };

export interface Expectation {
  app: string;
  version: string;
  sha256: string;
  /**
   * Per node, the digest of the intent this phase wrote or found there (shared/intent/digest.ts): the one a record
   * must name to answer it. A node without one (no digest known, or no valid intent written) takes any record.
   */
  digests?: ReadonlyMap<string, string>;
}

/**
 * Whether `node`'s reality record answers the intent this deploy wrote, rather than an older one: the record names
 * the digest of the intent it answers. A record without a digest comes from an agent older than digests, and the
 * version it names is all there is to go on.
 */
export function answersThisDeploy(record: RealityRecord, expected: Expectation, node: string): boolean {
  if (record.app !== expected.app) return false;
  const digest = expected.digests?.get(node);
  return digest === undefined || record.intentDigest === undefined || record.intentDigest === digest;
}

/** The record of `agent` for the app on every node, from one read of the reality tree; an unreadable one is none yet. */
export async function readRecords(store: IntentStore, prefix: string, agent: string, app: string): Promise<Map<string, RealityRecord>> {
  const { entries } = await store.read(realityPrefix(prefix));
  const out = new Map<string, RealityRecord>();
  for (const e of realityEntries(prefix, entries)) if (e.agent === agent && e.app === app && e.record) out.set(e.node, e.record);
  return out;
}

/** Staging: the preparer reports the version present (done), failing (failed), or not yet. */
export function stageState(node: string, rec: RealityRecord | undefined, x: Expectation): NodePhaseState {
  if (!rec || !answersThisDeploy(rec, x, node)) return { node, state: 'waiting', note: 'no preparer report yet' };
  const d = detailsOf('preparer', rec) ?? {};
  if (d.present?.includes(x.version)) return { node, state: 'done' };
  const failure = d.failures?.[x.version];
  if (failure) return { node, state: 'failed', note: `preparer: ${failure}` };
  const pending = d.pending?.[x.version];
  return { node, state: pending ? 'busy' : 'waiting', note: pending ?? rec.reason };
}

/**
 * Flip: setlive reports the version converged with `current` on it (done), a verdict names the node (it flipped,
 * failed its health check and rolled back), or setlive reports the version failed (e.g. refused by another node's
 * verdict: not tried here).
 */
export function flipState(node: string, rec: RealityRecord | undefined, failedHere: string | undefined, x: Expectation): NodePhaseState {
  // The verdict is written before the rollback starts: the node counts as failed once setlive reports the end of it.
  const answers = rec !== undefined && answersThisDeploy(rec, x, node);
  if (failedHere && answers && rec.status === 'failed')
    return { node, state: 'failed', note: `flipped, failed its health check, rolled back: ${failedHere}` };
  if (failedHere) return { node, state: 'busy', note: `failed its health check (${failedHere}); rolling back` };
  if (!answers || rec.version !== x.version) return { node, state: 'waiting', note: 'setlive has not seen the new intent yet' };
  const current = detailsOf('setlive', rec)?.current;
  if (rec.status === 'converged' && current === x.version) return { node, state: 'done' };
  if (rec.status === 'failed') return { node, state: 'failed', note: rec.error };
  return { node, state: current === x.version ? 'busy' : 'waiting', note: rec.reason };
}

/** Revert: the node runs its previous version again (or, for a first install, nothing is live). */
export function revertState(node: string, rec: RealityRecord | undefined, from: string | undefined, x: Expectation): NodePhaseState {
  if (!rec || !answersThisDeploy(rec, x, node)) return { node, state: from ? 'waiting' : 'done' };
  const current = detailsOf('setlive', rec)?.current;
  if (from === undefined) return { node, state: 'done' };
  if (rec.version === from && rec.status === 'converged' && current === from) return { node, state: 'done' };
  if (rec.version === from && rec.status === 'failed') return { node, state: 'failed', note: rec.error };
  return { node, state: 'busy', note: rec.reason };
}

/** The nodes that failed this version (verdicts on its digest), with the check's output. */
export async function verdictNodes(store: IntentStore, prefix: string, x: Expectation): Promise<Map<string, string>> {
  const verdicts = await readVerdicts(store, prefix, x.app);
  return new Map(verdicts.filter((v) => v.version === x.version && v.sha256 === x.sha256).map((v) => [v.node, v.output]));
}

/** Blocks until the reality tree changes, `ms` pass or `signal` aborts (a Consul blocking query; never a busy loop). */
export async function awaitRealityChange(
  store: IntentStore,
  prefix: string,
  index: number,
  ms: number,
  signal?: AbortSignal,
): Promise<number> {
  const snap = await store.watch(realityPrefix(prefix), index, Math.max(100, ms), signal);
  return snap.index;
}
