import { intentDigest } from '../shared/intent/digest.js';
import { nodeIntentFromSnapshot, type NodeIntent } from '../shared/intent/node-intent.js';
import { intentPrefix, nodeIntentPrefix, realityPrefix } from '../shared/keys.js';
import type { HeartbeatRecord } from '../shared/loop/heartbeat.js';
import { type RealityRecord, realityEntries } from '../shared/reality/record.js';
import type { IntentStore, KvEntry } from '../shared/store/types.js';
import { nodeHeartbeats } from './heartbeats.js';
import { secondsSince } from './render.js';

/** One agent's report for one app, as a reader sees it now. */
export interface AgentReport {
  record: RealityRecord;
  ageSeconds: number;
  /** Whether the record answers the app's intent as it stands in the store (by digest); unknown without a digest on either side. */
  intent: 'current' | 'stale' | 'unknown';
}

/** One agent's heartbeat on one node. */
export interface AgentBeat {
  heartbeat: HeartbeatRecord;
  ageSeconds: number;
}

/** One node as pp status and pp check see it: its intent, each agent's records by app, and each agent's heartbeat. */
export interface NodeView {
  node: string;
  intent?: NodeIntent;
  /** Digest of each validly intended app. */
  digests: Map<string, string>;
  /** app → agent → report */
  reports: Map<string, Map<string, AgentReport>>;
  /** app → agent → why its record cannot be read (too large, nested too deep, not a record), naming the key */
  unreadable: Map<string, Map<string, string>>;
  /** agent → heartbeat */
  beats: Map<string, AgentBeat>;
}

function groupByNode(entries: KvEntry[], base: string): Map<string, KvEntry[]> {
  const byNode = new Map<string, KvEntry[]>();
  for (const e of entries) {
    const node = e.key.slice(base.length).split('/')[0]!;
    byNode.set(node, [...(byNode.get(node) ?? []), e]);
  }
  return byNode;
}

/**
 * Reads intent and reality for the given nodes (every node when none is given): two prefix reads per node, or
 * two in all for the fleet, then a pure join. Throws when the store cannot answer.
 */
export async function readFleet(
  store: IntentStore,
  prefix: string,
  nodes: string[] = [],
  now = Date.now(),
): Promise<Map<string, NodeView>> {
  const intentBase = intentPrefix(prefix);
  const realityBase = realityPrefix(prefix);
  const reads = nodes.length
    ? nodes.map((n) => [nodeIntentPrefix(prefix, n), realityPrefix(prefix, n)] as const)
    : [[intentBase, realityBase] as const];
  const snapshots = await Promise.all(reads.map(async ([i, r]) => Promise.all([store.read(i), store.read(r)])));
  const views = new Map<string, NodeView>();
  const view = (node: string) => {
    if (!views.has(node)) views.set(node, { node, digests: new Map(), reports: new Map(), unreadable: new Map(), beats: new Map() });
    return views.get(node)!;
  };
  for (const n of nodes) view(n);
  for (const [intent, reality] of snapshots) {
    for (const [n, entries] of groupByNode(intent.entries, intentBase)) {
      const v = view(n);
      v.intent = nodeIntentFromSnapshot(prefix, n, { index: intent.index, entries });
      for (const [app, spec] of v.intent.apps) v.digests.set(app, intentDigest(spec));
    }
    for (const [n, entries] of groupByNode(reality.entries, realityBase))
      for (const [agent, heartbeat] of nodeHeartbeats(prefix, n, entries))
        view(n).beats.set(agent, { heartbeat, ageSeconds: secondsSince(heartbeat.at, now) });
    for (const { node: n, agent, app, record, error } of realityEntries(prefix, reality.entries)) {
      const v = view(n);
      if (error !== undefined) {
        if (!v.unreadable.has(app)) v.unreadable.set(app, new Map());
        v.unreadable.get(app)!.set(agent, error);
        continue;
      }
      const today = v.digests.get(app);
      const intent = !today || !record.intentDigest ? 'unknown' : today === record.intentDigest ? 'current' : 'stale';
      if (!v.reports.has(app)) v.reports.set(app, new Map());
      v.reports.get(app)!.set(agent, { record, ageSeconds: secondsSince(record.at, now), intent });
    }
  }
  return views;
}
