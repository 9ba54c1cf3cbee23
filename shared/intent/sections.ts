/**
 * Who acts on each section of an app intent: the one record that the agents' checks, their heartbeats, pp's refusal
 * to write a section an agent does not understand, the JSON Schema's descriptions and README's table all read.
 *
 * An agent checks the core and the sections it owns. A section another agent owns, and that this agent's schema
 * knows, is passed over: a problem there is its owner's to report, so an agent older or newer than its owner keeps
 * acting on its own sections. A field or section that no agent known here owns is refused (fail closed).
 */

/** `core`: every agent checks and reads it. Otherwise the name of the agent that acts on it (agents/agents.json). */
export type SectionOwner = 'core' | 'iptables' | 'setlive';

export interface SectionEntry {
  owner: SectionOwner;
  /** The Platypus version whose agents first understood it. */
  since: string;
}

/**
 * Every section, in the order of the schema. A section added later gets its entry here with the version that
 * introduces it, and its schema in structure.ts (a test keeps the two lists equal).
 */
export const SECTIONS = {
  schema: { owner: 'core', since: '0.1.0' },
  basedir: { owner: 'core', since: '0.1.0' },
  versions: { owner: 'core', since: '0.1.0' },
  ports: { owner: 'iptables', since: '0.1.0' },
  service: { owner: 'setlive', since: '0.1.0' },
  health: { owner: 'setlive', since: '0.1.0' },
  requires: { owner: 'setlive', since: '0.1.0' },
  rollout: { owner: 'setlive', since: '0.1.0' },
} as const satisfies Record<string, SectionEntry>;

export type SectionName = keyof typeof SECTIONS;

export const SECTION_NAMES = Object.keys(SECTIONS) as SectionName[];

/**
 * What an agent whose heartbeat lists no sections understands: heartbeats began to list them when these were all
 * the sections there were. Fixed for good; a section not in it is new, and pp writes it only where a running
 * agent's heartbeat says it understands it.
 */
export const BASELINE_SECTIONS: readonly string[] = Object.freeze([
  'schema',
  'basedir',
  'versions',
  'ports',
  'service',
  'health',
  'requires',
  'rollout',
]);

export const isSection = (name: string): name is SectionName => Object.hasOwn(SECTIONS, name);

/** True when `reader` checks `section`: a core section, or one it owns. No reader: pp, which checks every section. */
export function checks(reader: string | undefined, section: SectionName): boolean {
  const { owner } = SECTIONS[section];
  return reader === undefined || owner === 'core' || owner === reader;
}

/** How the JSON Schema and README name who acts on a section. */
export function ownerText(section: SectionName): string {
  const { owner } = SECTIONS[section];
  return owner === 'core' ? 'every agent (core)' : `pp-${owner}`;
}

/** The sentences each section's JSON Schema description ends with. */
export function ownerSentence(section: SectionName): string {
  const { owner, since } = SECTIONS[section];
  return owner === 'core'
    ? `Core: every agent checks it. Introduced in ${since}.`
    : `Section of pp-${owner}, which checks and acts on it; the other agents pass over it. Introduced in ${since}.`;
}

/** The core sections, every agent's. */
export const CORE_SECTIONS = SECTION_NAMES.filter((s) => SECTIONS[s].owner === 'core');

/** README's table of sections and their agents (generated into README.md by npm run generate). */
export function sectionsTable(): string {
  const rows = SECTION_NAMES.map((s) => `| \`${s}\` | ${ownerText(s)} | ${SECTIONS[s].since} |`);
  return ['| section | checked and acted on by | since |', '|---|---|---|', ...rows].join('\n');
}
