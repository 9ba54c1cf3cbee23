import { nodeIntentFromSnapshot } from '../shared/intent/node-intent.js';
import { realityPrefix } from '../shared/keys.js';
import type { RealityRecord } from '../shared/loop/types.js';
import type { IntentStore, KvEntry } from '../shared/store/types.js';

/** One row of `pp status`: an app on a node, its intended versions and each agent's last report. */
export interface StatusRow {
  node: string;
  app: string;
  intended: string;
  agents: Record<string, { status: string; version?: string; detail?: string; ageSeconds?: number }>;
}

function groupByNode(entries: KvEntry[], base: string): Map<string, KvEntry[]> {
  const byNode = new Map<string, KvEntry[]>();
  for (const e of entries) {
    const node = e.key.slice(base.length).split('/')[0]!;
    byNode.set(node, [...(byNode.get(node) ?? []), e]);
  }
  return byNode;
}

function parseRecord(json: string): RealityRecord | undefined {
  try {
    return JSON.parse(json) as RealityRecord;
  } catch {
    return undefined;
  }
}

/** Intent beside reality for one node or the whole fleet: two prefix reads, then a pure join. */
export async function collectStatus(store: IntentStore, prefix: string, node?: string, now = Date.now()): Promise<StatusRow[]> {
  const intentBase = `${prefix}/intent/`;
  const [intent, reality] = await Promise.all([
    store.read(node ? `${intentBase}${node}/` : intentBase),
    store.read(node ? realityPrefix(prefix, node) : realityPrefix(prefix)),
  ]);
  const rows = new Map<string, StatusRow>();
  const row = (n: string, app: string) => {
    const id = `${n}/${app}`;
    if (!rows.has(id)) rows.set(id, { node: n, app, intended: '-', agents: {} });
    return rows.get(id)!;
  };
  for (const [n, entries] of groupByNode(intent.entries, intentBase)) {
    const ni = nodeIntentFromSnapshot(prefix, n, { index: intent.index, entries });
    for (const [app, spec] of ni.apps)
      row(n, app).intended = spec.versions.map((v) => (v.state === 'live' ? `${v.version}*` : v.version)).join(' ') || '(none)';
    for (const app of ni.invalid.keys()) row(n, app).intended = 'INVALID';
    if (ni.drained) row(n, '.drained').intended = '(node drained)';
  }
  for (const e of reality.entries) {
    const [n, agent, app] = e.key.slice(`${prefix}/reality/`.length).split('/');
    const rec = parseRecord(e.value);
    if (!n || !agent || !app || !rec) continue;
    const ageSeconds = Math.max(0, Math.round((now - Date.parse(rec.at)) / 1000));
    row(n, app).agents[agent] = { status: rec.status, version: rec.version, detail: rec.error ?? rec.reason, ageSeconds };
  }
  return [...rows.values()].sort((a, b) => (a.node + a.app < b.node + b.app ? -1 : 1));
}

function age(s?: number): string {
  if (s === undefined) return '';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** Renders rows as an aligned text table, one column per agent seen; details of failures below. */
export function renderStatus(rows: StatusRow[]): string {
  const agents = [...new Set(rows.flatMap((r) => Object.keys(r.agents)))].sort();
  const table = [['NODE', 'APP', 'INTENDED (* live)', ...agents.map((a) => a.toUpperCase())]];
  const notes: string[] = [];
  for (const r of rows) {
    table.push([
      r.node,
      r.app,
      r.intended,
      ...agents.map((a) => {
        const s = r.agents[a];
        if (!s) return '-';
        if (s.detail && s.status !== 'converged') notes.push(`${r.node}/${r.app} ${a}: ${s.detail}`);
        return `${s.status}${s.version ? ` ${s.version}` : ''} (${age(s.ageSeconds)})`;
      }),
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((line) => line[i]!.length)));
  const text = table
    .map((line) =>
      line
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  return `${text}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}`;
}
