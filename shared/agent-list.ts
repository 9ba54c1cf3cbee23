import { readFileSync } from 'node:fs';
import * as v from 'valibot';

const ENTRY = v.object({
  name: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]*$/, 'expected lowercase letters, digits and -')),
  summary: v.pipe(v.string(), v.minLength(1, 'expected a one-line summary'), v.regex(/^[^\n]*$/, 'expected a one-line summary')),
  metricsPort: v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(65535, 'expected a port from 1024 to 65535')),
  everyNode: v.boolean('expected true or false'),
});

/**
 * One entry of agents/agents.json: the agent's folder name, a one-line summary of what it converges, the loopback
 * port of its /metrics by default, and whether `pp check` expects it on every node with intent.
 */
export type AgentEntry = v.InferOutput<typeof ENTRY>;

// dist/shared/ when built, shared/ when tests run the sources: the package root is two or one level up.
const CANDIDATES = ['../../agents/agents.json', '../agents/agents.json'];

/** The entries of an agents.json text, checked: names and ports unique; throws naming the agent and the field. */
export function parseAgentList(text: string, file = 'agents/agents.json'): AgentEntry[] {
  const raw = (JSON.parse(text) as { agents?: unknown }).agents;
  if (!Array.isArray(raw)) throw new Error(`${file}: expected an "agents" list`);
  const names = new Set<string>();
  const ports = new Map<number, string>();
  return raw.map((entry: unknown, i) => {
    const parsed = v.safeParse(ENTRY, entry);
    const label = `agent ${typeof (entry as { name?: unknown })?.name === 'string' ? (entry as { name: string }).name : `#${i + 1}`}`;
    if (!parsed.success) {
      const issue = parsed.issues[0];
      const field = issue.path?.map((p) => String(p.key)).join('.') ?? '';
      throw new Error(`${file}: ${label}: field ${field}: ${issue.message}`);
    }
    const a = parsed.output;
    if (names.has(a.name)) throw new Error(`${file}: ${label} is listed twice`);
    if (ports.has(a.metricsPort))
      throw new Error(`${file}: ${label}: field metricsPort: ${a.metricsPort} is agent ${ports.get(a.metricsPort)}'s already`);
    names.add(a.name);
    ports.set(a.metricsPort, a.name);
    return a;
  });
}

/** The agents of this Platypus, in the order of agents/agents.json (the one list every tool derives from). */
export function agentList(): AgentEntry[] {
  for (const rel of CANDIDATES) {
    let text: string;
    try {
      text = readFileSync(new URL(rel, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    return parseAgentList(text);
  }
  throw new Error('agents/agents.json not found beside this program');
}

/** The agents' folder names, e.g. ["preparer", "iptables", "setlive"]. */
export const agentNames = (): string[] => agentList().map((a) => a.name);

/** The agents `pp check` expects on every node that has intent. */
export const everyNodeAgents = (): string[] =>
  agentList()
    .filter((a) => a.everyNode)
    .map((a) => a.name);
