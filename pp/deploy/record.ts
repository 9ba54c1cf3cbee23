import { randomBytes } from 'node:crypto';
import { deploymentsPrefix } from '../../shared/keys.js';
import type { IntentStore } from '../../shared/store/types.js';

export type Outcome = 'running' | 'planned' | 'succeeded' | 'failed' | 'reverted' | 'timed-out' | 'lock-lost' | 'interrupted';

/** What `<prefix>/deployments/<app>/<id>` holds: who, when, from → to, nodes, policy, outcome. */
export interface DeploymentRecord {
  id: string;
  app: string;
  user: string;
  host: string;
  pid: number;
  startedAt: string;
  endedAt?: string;
  version: string;
  sha256: string;
  /** Live version per node before the deploy (null: none). */
  from: Record<string, string | null>;
  nodes: string[];
  /**
   * The spec deployed, as given: what `pp deploy resume` carries on with and `pp rollback` goes back to. Plain JSON
   * even when the deploy signs: a record is not intent, no agent acts on it, and resume and rollback sign what they
   * write from it again with their own --sign-key.
   */
  spec?: Record<string, unknown>;
  /** The deploy this one resumed. */
  resumes?: string;
  policy: { mode: 'strict' | 'auto-revert' | 'continue-on-error'; timeoutSeconds: number };
  phase: 'staging' | 'flipping' | 'reverting' | 'done';
  outcome: Outcome;
  /** Per node: live, failed (why), changed (its intent changed under the deploy), skipped. */
  result: Record<string, string>;
}

/** `20261202T083012.345Z-1a2b`: sorts by start time (to the millisecond), unique enough for two deploys at once. */
export function newDeploymentId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '')}-${randomBytes(2).toString('hex')}`;
}

export async function writeDeployment(store: IntentStore, prefix: string, record: DeploymentRecord): Promise<void> {
  await store.put(deploymentsPrefix(prefix, record.app) + record.id, JSON.stringify(record));
}

export async function readDeployments(store: IntentStore, prefix: string, app: string): Promise<DeploymentRecord[]> {
  const { entries } = await store.read(deploymentsPrefix(prefix, app));
  const out: DeploymentRecord[] = [];
  for (const e of entries) {
    try {
      const r = JSON.parse(e.value) as DeploymentRecord;
      if (typeof r.id === 'string' && typeof r.version === 'string') out.push(r);
    } catch {
      // not a record of ours
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** `pp deploy history <app>`: one line per deploy, oldest first. */
export function renderHistory(app: string, records: DeploymentRecord[]): string {
  if (records.length === 0) return `no deploys of ${app} recorded`;
  const rows = [['ID', 'BY', 'STARTED', 'TOOK', 'FROM → TO', 'NODES', 'POLICY', 'OUTCOME']];
  for (const r of records) {
    const from = [...new Set(Object.values(r.from).map((v) => v ?? '-'))].join(',');
    const took = r.endedAt ? `${Math.round((Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000)} s` : '-';
    const failed = Object.values(r.result).filter((v) => !v.startsWith('live')).length;
    rows.push([
      r.id,
      `${r.user}@${r.host}`,
      r.startedAt.replace(/\.\d+Z$/, 'Z'),
      took,
      `${from} → ${r.version}`,
      `${r.nodes.length}${failed ? ` (${failed} not live)` : ''}`,
      r.policy.mode,
      r.outcome,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
