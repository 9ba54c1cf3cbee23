import type { NodePhaseState } from './follow.js';
import type { DeploymentRecord } from './record.js';

/** What the final report of a deploy says: its record as it ended, beside how the roll-out ended. */
export interface Report {
  record: DeploymentRecord;
  /** The phase it ended in, the nodes still open then, and the nodes it staged and flipped. */
  phase: string;
  open: NodePhaseState[];
  staged: string[];
  flipped: string[];
  exitCode: number;
  timeoutSeconds: number;
  /** With the outcome interrupted: the signal. */
  by?: string;
}

/** The report on stdout: JSON (the record, what it took, the exit code, what it wrote), or a summary and each node not live. */
export function renderReport(r: Report, json: boolean): string {
  const { record } = r;
  const took = ((Date.now() - Date.parse(record.startedAt)) / 1000).toFixed(1);
  if (json)
    return `${JSON.stringify({ ...record, tookSeconds: Number(took), exitCode: r.exitCode, staged: r.staged, flipped: r.flipped }, null, 2)}\n`;
  const live = Object.values(record.result).filter((v) => v.startsWith('live')).length;
  const lines = [`deploy ${record.id}: ${record.outcome} after ${took} s: ${live}/${record.nodes.length} live on ${record.version}`];
  if (record.outcome === 'timed-out')
    lines.push(
      `  --timeout ${r.timeoutSeconds} s reached during ${r.phase}; still open: ${r.open.map((s) => `${s.node} (${s.note ?? s.state})`).join(', ')}`,
    );
  if (record.outcome === 'interrupted')
    lines.push(
      `  stopped by ${r.by ?? 'a signal'} during ${r.phase}: what it wrote stays and the agents go on; pp deploy resume ${record.app} carries it on`,
    );
  for (const [node, result] of Object.entries(record.result)) if (!result.startsWith('live')) lines.push(`  ${node}: ${result}`);
  if (record.outcome === 'failed')
    lines.push(
      `  the intent stays as written and the nodes refuse ${record.version} by its verdicts; deploy the previous version (or use --auto-revert) to put it back everywhere`,
    );
  return `${lines.join('\n')}\n`;
}
