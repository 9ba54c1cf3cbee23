import { HEARTBEAT_NAME, realityPrefix } from '../shared/keys.js';
import { type HeartbeatRecord, isLiveHeartbeat, parseHeartbeat } from '../shared/loop/heartbeat.js';
import type { IntentStore, KvEntry } from '../shared/store/types.js';

/**
 * How pp learns what the agents of a node are before it writes there: from their heartbeats, which say whether they
 * act only on signed intent (signing.ts) and which intent sections they understand (understood.ts).
 */

/** A node's agents by name, as their heartbeats tell them. */
export type NodeBeats = ReadonlyMap<string, HeartbeatRecord>;

/** The heartbeats among `reality`, the entries of `<prefix>/reality/<node>/`, by agent; values that are not one are left out. */
export function nodeHeartbeats(prefix: string, node: string, reality: KvEntry[]): NodeBeats {
  const base = realityPrefix(prefix, node);
  const beats = new Map<string, HeartbeatRecord>();
  for (const e of reality) {
    if (!e.key.startsWith(base)) continue;
    const [agent, name, more] = e.key.slice(base.length).split('/');
    if (!agent || name !== HEARTBEAT_NAME || more !== undefined) continue;
    const beat = parseHeartbeat(e.value);
    if (beat) beats.set(agent, beat);
  }
  return beats;
}

/** Those of `beats` that are of agents running at `now`: not cleanly stopped, refreshed recently enough. */
export function liveHeartbeats(beats: NodeBeats, now = Date.now()): NodeBeats {
  return new Map([...beats].filter(([, beat]) => isLiveHeartbeat(beat, now)));
}

/** For each of `nodes`, its agents' heartbeats: one read of each node's reality. */
export async function readHeartbeats(store: IntentStore, prefix: string, nodes: string[]): Promise<Map<string, NodeBeats>> {
  const found = await Promise.all(
    nodes.map(async (node) => [node, nodeHeartbeats(prefix, node, (await store.read(realityPrefix(prefix, node))).entries)] as const),
  );
  return new Map(found);
}
