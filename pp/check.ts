import { NAGIOS_EXIT as NAGIOS } from '../shared/exit-codes.js';
import type { NodeView } from './fleet-view.js';
import { formatAge } from './render.js';

const LABEL = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface CheckOptions {
  /** An agent whose heartbeat is older than this (or missing, or stopped) is silent: critical. */
  maxAgeSeconds: number;
  /** An app whose record says pending for longer than this: warning. */
  pendingSeconds: number;
  /** The agents every node with intent must run (agents/agents.json by default). */
  agents: string[];
  /** The nodes asked for by name: one with neither intent nor reality is unknown. */
  named: string[];
}

export interface CheckResult {
  code: number;
  line: string;
}

/** `30m`, `2h`, `90s`, `1d` or plain seconds, as --max-age and --pending take them; throws naming the flag. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`${flag} ${JSON.stringify(text)}: expected a duration such as 90s, 15m, 2h or 1d`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's'];
}

const oneLine = (text: string, max = 120) => {
  // A '|' would start the perfdata early.
  const flat = text.replace(/\s+/g, ' ').replace(/\|/g, '/').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** A few examples then "and N more", so the summary stays one readable line. */
function some(items: string[], max = 3): string {
  return items.length <= max ? items.join('; ') : `${items.slice(0, max).join('; ')}; and ${items.length - max} more`;
}

/**
 * The verdict of `pp check` on what readFleet returned: CRITICAL for failed apps and silent agents, WARNING for apps
 * pending too long and records that answer an older intent of their app, else OK; one line, perfdata after `|`.
 */
export function evaluateCheck(views: Map<string, NodeView>, o: CheckOptions): CheckResult {
  const unknownNodes = o.named.filter((n) => {
    const v = views.get(n);
    return !v || (!v.intent && v.reports.size === 0 && v.beats.size === 0);
  });
  if (unknownNodes.length > 0)
    return { code: NAGIOS.unknown, line: `PLATYPUS UNKNOWN - no intent and no reality for node ${unknownNodes.join(', ')}` };
  const failed: string[] = [];
  const late: string[] = [];
  const stale: string[] = [];
  const silent: string[] = [];
  let apps = 0;
  let converged = 0;
  for (const [node, v] of [...views].sort(([a], [b]) => (a < b ? -1 : 1))) {
    apps += v.intent ? v.intent.apps.size + v.intent.invalid.size : 0;
    for (const [app, byAgent] of v.reports) {
      let allConverged = byAgent.size > 0;
      for (const [agent, r] of byAgent) {
        const where = `${node}/${app} ${agent}`;
        if (r.record.status !== 'converged') allConverged = false;
        if (r.record.status === 'failed') failed.push(`${where}: ${oneLine(r.record.error ?? 'failed')}`);
        else if (r.record.status === 'pending' && r.ageSeconds > o.pendingSeconds)
          late.push(`${where} pending for ${formatAge(r.ageSeconds)}${r.record.reason ? `: ${oneLine(r.record.reason, 60)}` : ''}`);
        if (r.intent === 'stale') stale.push(where);
      }
      if (allConverged && v.intent?.apps.has(app)) converged += 1;
    }
    // Every agent is expected on a node that has intent; an agent that reported here before is expected too.
    const expected = new Set([...(v.intent ? o.agents : []), ...v.beats.keys(), ...[...v.reports.values()].flatMap((m) => [...m.keys()])]);
    for (const agent of [...expected].sort()) {
      const beat = v.beats.get(agent);
      if (!beat) silent.push(`${node} ${agent}: no heartbeat`);
      else if (beat.heartbeat.stopped) silent.push(`${node} ${agent}: stopped ${formatAge(beat.ageSeconds)} ago`);
      else if (beat.ageSeconds > o.maxAgeSeconds) silent.push(`${node} ${agent}: last heartbeat ${formatAge(beat.ageSeconds)} ago`);
    }
  }
  const code = failed.length || silent.length ? NAGIOS.critical : late.length || stale.length ? NAGIOS.warning : NAGIOS.ok;
  const parts: string[] = [];
  if (failed.length) parts.push(`${failed.length} failed: ${some(failed)}`);
  if (silent.length) parts.push(`${silent.length} silent: ${some(silent)}`);
  if (late.length) parts.push(`${late.length} pending too long: ${some(late)}`);
  if (stale.length) parts.push(`${stale.length} answer an older intent: ${some(stale)}`);
  if (!parts.length)
    parts.push(`${views.size} node${views.size === 1 ? '' : 's'}, ${converged}/${apps} apps converged, every agent reporting`);
  const perf = [
    `nodes=${views.size};;;0`,
    `apps=${apps};;;0`,
    `converged=${converged};;;0`,
    `failed=${failed.length};;0;0`,
    `silent=${silent.length};;0;0`,
    `pending_too_long=${late.length};0;;0`,
    `stale=${stale.length};0;;0`,
  ];
  return { code, line: `PLATYPUS ${LABEL[code]} - ${parts.join('; ')} | ${perf.join(' ')}` };
}
