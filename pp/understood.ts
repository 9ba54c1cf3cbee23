import type { HeartbeatRecord } from '../shared/loop/heartbeat.js';
import { BASELINE_SECTIONS, isSection, SECTIONS } from '../shared/intent/sections.js';
import { liveHeartbeats, type NodeBeats } from './heartbeats.js';
import { CliError } from './read-spec.js';

/**
 * pp refuses to write an intent section that an agent of the node would refuse: an agent refuses the whole app over a
 * section it does not know (fail closed), and would keep running what it runs while pp reported the intent written.
 * What an agent understands is what its heartbeat lists (a running agent's only, as for signatures).
 */

/** The --force flag of the commands that write intent sections (pp intent put, pp deploy, resume, rollback). */
export const FORCE = {
  force: {
    type: 'boolean',
    default: false,
    describe:
      "write intent sections that a running agent of the node does not understand by its heartbeat, or new sections to a node whose agents' heartbeats are not there yet",
  },
} as const;

/** A section the agents of one node may not understand. No agent: the node has no running agent's heartbeat to say. */
export interface NotUnderstood {
  section: string;
  agent?: { name: string; version?: string };
}

/** The sections an agent understands by its heartbeat; one from before heartbeats listed them understands `baseline`. */
export function understoodBy(beat: HeartbeatRecord, baseline: readonly string[] = BASELINE_SECTIONS): ReadonlySet<string> {
  const listed = beat.sections;
  return new Set(Array.isArray(listed) ? listed.filter((s): s is string => typeof s === 'string') : baseline);
}

/** The sections a spec writes: its top-level fields. */
export function sectionsOf(spec: unknown): string[] {
  return spec && typeof spec === 'object' && !Array.isArray(spec) ? Object.keys(spec) : [];
}

/**
 * What of `sections` the running agents of a node (by `beats`) would not understand. A node with no running agent's
 * heartbeat cannot say: a section not in `baseline` (a new one, which agents without a sections list refuse) is
 * reported there, and the others are understood by every agent.
 */
export function notUnderstood(
  sections: readonly string[],
  beats: NodeBeats,
  now = Date.now(),
  baseline: readonly string[] = BASELINE_SECTIONS,
): NotUnderstood[] {
  const live = [...liveHeartbeats(beats, now)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (live.length === 0) return sections.filter((s) => !baseline.includes(s)).map((section) => ({ section }));
  const out: NotUnderstood[] = [];
  for (const [name, beat] of live) {
    const understood = understoodBy(beat, baseline);
    for (const section of sections)
      if (!understood.has(section)) out.push({ section, agent: { name, ...(beat.version ? { version: beat.version } : {}) } });
  }
  return out;
}

/** `section hooks (introduced in 0.2.0)`, or several joined. */
function named(sections: string[]): string {
  const each = sections.map((s) => (isSection(s) ? `${s} (introduced in ${SECTIONS[s].since})` : s));
  return `section${sections.length > 1 ? 's' : ''} ${each.join(', ')}`;
}

const SHOWN = 10;

/** One node's part of the refusal: each agent and the sections it does not understand, or why pp cannot tell. */
function nodeText(node: string, gaps: readonly NotUnderstood[]): string {
  const byAgent = new Map<string, { version?: string; sections: string[] }>();
  const unknown: string[] = [];
  for (const g of gaps) {
    if (!g.agent) {
      unknown.push(g.section);
      continue;
    }
    const entry = byAgent.get(g.agent.name) ?? { version: g.agent.version, sections: [] };
    entry.sections.push(g.section);
    byAgent.set(g.agent.name, entry);
  }
  const parts = [...byAgent].map(
    ([agent, { version, sections }]) =>
      `agent ${agent} ${version ?? '(of a version its heartbeat does not name)'} does not understand ${named(sections)}`,
  );
  if (unknown.length)
    parts.push(`no agent has a running heartbeat yet to say whether it understands ${named(unknown)}, which older agents refuse`);
  return `node ${node}: ${parts.join('; ')}`;
}

/**
 * Refuses (exit 2, nothing written) to write sections that agents of these nodes would refuse, naming node, agent
 * and section; `gaps` holds each node's (nodes with none may be left out or given none).
 */
export function refuseNotUnderstood(gaps: ReadonlyMap<string, readonly NotUnderstood[]>): void {
  const nodes = [...gaps].filter(([, g]) => g.length > 0);
  if (nodes.length === 0) return;
  const texts = nodes.map(([node, g]) => nodeText(node, g));
  const list = texts.length > SHOWN ? `${texts.slice(0, SHOWN).join('; ')}; and ${texts.length - SHOWN} more nodes` : texts.join('; ');
  throw new CliError(
    `refused to write intent that agents would refuse: ${list}; upgrade those agents first (or start them, so that their heartbeats say what they understand), or pass --force to write it anyway (nothing written)`,
    2,
  );
}

/** Refuses, unless `force`, to write `spec` to nodes whose agents (by `beats`) would not understand a section of it. */
export function refuseSectionsNotUnderstood(spec: unknown, beats: ReadonlyMap<string, NodeBeats>, force: boolean, now = Date.now()): void {
  if (force) return;
  const sections = sectionsOf(spec);
  refuseNotUnderstood(new Map([...beats].map(([node, b]) => [node, notUnderstood(sections, b, now)])));
}
