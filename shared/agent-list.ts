import { readFileSync } from 'node:fs';

/** One entry of agents/agents.json: the agent's folder name and a one-line summary of what it converges. */
export interface AgentEntry {
  name: string;
  summary: string;
}

// dist/shared/ when built, shared/ when tests run the sources: the package root is two or one level up.
const CANDIDATES = ['../../agents/agents.json', '../agents/agents.json'];

/** The agents of this Platypus, in the order of agents/agents.json (the one list every tool derives from). */
export function agentList(): AgentEntry[] {
  for (const rel of CANDIDATES) {
    let text: string;
    try {
      text = readFileSync(new URL(rel, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    return (JSON.parse(text) as { agents: AgentEntry[] }).agents;
  }
  throw new Error('agents/agents.json not found beside this program');
}

/** The agents' folder names, e.g. ["preparer", "iptables", "setlive"]. */
export const agentNames = (): string[] => agentList().map((a) => a.name);
