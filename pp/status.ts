import type { IntentStore } from '../shared/store/types.js';
import { readFleet } from './fleet-view.js';
import { formatAge, renderTable } from './render.js';

/** One row of `pp status`: an app on a node, its intended versions and each agent's last report. */
export interface StatusRow {
  node: string;
  app: string;
  intended: string;
  agents: Record<
    string,
    {
      /** What the agent reported (converged, pending, failed), or unreadable when its record cannot be read (`detail` says why). */
      status: string;
      version?: string;
      detail?: string;
      ageSeconds?: number;
      /** Whether the report answers the app's intent as it stands in the store (by its digest), see README "Reality". */
      intent?: 'current' | 'stale' | 'unknown';
      /** Seconds since the agent's heartbeat on this node (absent: it never wrote one). */
      heartbeatAgeSeconds?: number;
      /** The agent's heartbeat says it was stopped cleanly. */
      stopped?: boolean;
    }
  >;
}

/** Intent beside reality for one node or the whole fleet: two prefix reads, then a pure join. */
export async function collectStatus(store: IntentStore, prefix: string, node?: string, now = Date.now()): Promise<StatusRow[]> {
  const views = await readFleet(store, prefix, node ? [node] : [], now);
  const rows = new Map<string, StatusRow>();
  const row = (n: string, app: string) => {
    const id = `${n}/${app}`;
    if (!rows.has(id)) rows.set(id, { node: n, app, intended: '-', agents: Object.create(null) as StatusRow['agents'] });
    return rows.get(id)!;
  };
  for (const [n, v] of views) {
    const ni = v.intent;
    if (ni) {
      for (const [app, spec] of ni.apps)
        row(n, app).intended = spec.versions.map((ver) => (ver.state === 'live' ? `${ver.version}*` : ver.version)).join(' ') || '(none)';
      for (const app of ni.invalid.keys()) row(n, app).intended = 'INVALID';
      if (ni.drained) row(n, '.drained').intended = '(node drained)';
    }
    for (const [app, byAgent] of v.reports)
      for (const [agent, r] of byAgent) {
        const beat = v.beats.get(agent);
        row(n, app).agents[agent] = {
          status: r.record.status,
          version: r.record.version,
          detail: r.record.error ?? r.record.reason,
          ageSeconds: r.ageSeconds,
          intent: r.intent,
          ...(beat ? { heartbeatAgeSeconds: beat.ageSeconds } : {}),
          ...(beat?.heartbeat.stopped ? { stopped: true } : {}),
        };
      }
    // A record that cannot be read is shown as such, with why, instead of failing the whole status or vanishing.
    for (const [app, byAgent] of v.unreadable)
      for (const [agent, why] of byAgent) {
        const beat = v.beats.get(agent);
        row(n, app).agents[agent] = {
          status: 'unreadable',
          detail: why,
          ...(beat ? { heartbeatAgeSeconds: beat.ageSeconds } : {}),
          ...(beat?.heartbeat.stopped ? { stopped: true } : {}),
        };
      }
  }
  // Agents that beat but report no app (a drained node) still show their heartbeat.
  for (const [n, v] of views)
    for (const [agent, beat] of v.beats)
      if (![...rows.values()].some((r) => r.node === n && r.agents[agent]))
        row(n, '.agents').agents[agent] = {
          status: beat.heartbeat.stopped ? 'stopped' : 'running',
          heartbeatAgeSeconds: beat.ageSeconds,
          ...(beat.heartbeat.stopped ? { stopped: true } : {}),
        };
  return [...rows.values()].sort((a, b) => (a.node + a.app < b.node + b.app ? -1 : 1));
}

/**
 * Renders rows as an aligned text table, one column per agent seen; details of failures below, then each agent's
 * heartbeat per node. A report that answers an older intent of its app says `older intent`.
 */
export function renderStatus(rows: StatusRow[]): string {
  const agents = [...new Set(rows.flatMap((r) => Object.keys(r.agents)))].sort();
  const table = [['NODE', 'APP', 'INTENDED (* live)', ...agents.map((a) => a.toUpperCase())]];
  const notes: string[] = [];
  const beats = new Map<string, string>();
  for (const r of rows) {
    for (const [a, s] of Object.entries(r.agents))
      if (s.heartbeatAgeSeconds !== undefined)
        beats.set(`${r.node} ${a}`, `${r.node} ${a}: heartbeat ${formatAge(s.heartbeatAgeSeconds)} ago${s.stopped ? ' (stopped)' : ''}`);
    if (r.app === '.agents') continue;
    table.push([
      r.node,
      r.app,
      r.intended,
      ...agents.map((a) => {
        const s = r.agents[a];
        if (!s) return '-';
        if (s.detail && s.status !== 'converged') notes.push(`${r.node}/${r.app} ${a}: ${s.detail}`);
        const when = [s.ageSeconds === undefined ? '' : formatAge(s.ageSeconds), s.intent === 'stale' ? 'older intent' : '']
          .filter(Boolean)
          .join(', ');
        return `${s.status}${s.version ? ` ${s.version}` : ''}${when ? ` (${when})` : ''}`;
      }),
    ]);
  }
  const text = renderTable(table);
  const beatLines = [...beats.keys()].sort().map((k) => beats.get(k)!);
  return `${text}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}${beatLines.length ? `\n${beatLines.join('\n')}\n` : ''}`;
}
