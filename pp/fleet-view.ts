import { intentDigest } from '../shared/intent/digest.js';
import { nodeIntentFromSnapshot, type NodeIntent } from '../shared/intent/node-intent.js';
import { parseJson } from '../shared/json-depth.js';
import { HEARTBEAT_NAME, intentPrefix, nodeIntentPrefix, realityPrefix } from '../shared/keys.js';
import { parseHeartbeat, type HeartbeatRecord } from '../shared/loop/heartbeat.js';
import type { RealityRecord } from '../shared/loop/types.js';
import { type IntentStore, type KvEntry, valueTooLarge } from '../shared/store/types.js';
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

/** Fields a reader shows as text: another tool's record with anything else there would break the rendering. */
const TEXT_FIELDS = ['app', 'version', 'reason', 'error', 'at', 'intentDigest'] as const;

/** The record at `entry`, or why it cannot be read, naming its key: one bad record never hides the others. */
function readRecord(entry: KvEntry): RealityRecord | string {
  const why = (problem: string) => `reality record at key ${entry.key}: ${problem}`;
  if (entry.tooLarge !== undefined) return why(valueTooLarge(entry.tooLarge));
  let value: RealityRecord;
  try {
    value = parseJson(entry.value) as RealityRecord;
  } catch (err) {
    return why((err as Error).message);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || typeof value.status !== 'string')
    return why('field status: expected a JSON object with a status');
  const bad = TEXT_FIELDS.find((f) => value[f] !== undefined && typeof value[f] !== 'string');
  return bad ? why(`field ${bad}: expected a string`) : value;
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
    for (const e of reality.entries) {
      const [n, agent, name, ...more] = e.key.slice(realityBase.length).split('/');
      if (!n || !agent || !name || more.length > 0) continue;
      if (name === HEARTBEAT_NAME) {
        const heartbeat = parseHeartbeat(e.value);
        if (heartbeat) view(n).beats.set(agent, { heartbeat, ageSeconds: secondsSince(heartbeat.at, now) });
        continue;
      }
      if (name.startsWith('.')) continue; // another marker, not an app
      const record = readRecord(e);
      const v = view(n);
      if (typeof record === 'string') {
        if (!v.unreadable.has(name)) v.unreadable.set(name, new Map());
        v.unreadable.get(name)!.set(agent, record);
        continue;
      }
      const today = v.digests.get(name);
      const intent = !today || !record.intentDigest ? 'unknown' : today === record.intentDigest ? 'current' : 'stale';
      if (!v.reports.has(name)) v.reports.set(name, new Map());
      v.reports.get(name)!.set(agent, { record, ageSeconds: secondsSince(record.at, now), intent });
    }
  }
  return views;
}
