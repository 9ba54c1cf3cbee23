import { agentNames } from './agent-list.js';

/**
 * The agents other programs name in their own logic, by the part each plays there: `pp deploy` follows the agent
 * that stages a version (its records list the versions present) and the one that puts it live (its records name
 * the version current; its failed health checks leave the verdicts). Each name is written here once and checked
 * against agents/agents.json when asked for, so an agent renamed or dropped there fails here, by name, rather than
 * leaving pp waiting on records that no agent writes.
 */
const ROLES = {
  stages: { name: 'preparer', does: 'stages versions' },
  putsLive: { name: 'setlive', does: 'puts versions live' },
} as const;

export type AgentRole = keyof typeof ROLES;

/** The agent that plays `role`; throws when agents/agents.json (or `listed`) does not list it. */
export function agentFor(role: AgentRole, listed: readonly string[] = agentNames()): string {
  const { name, does } = ROLES[role];
  if (!listed.includes(name))
    throw new Error(`agents/agents.json lists no agent ${name}, the agent that ${does}; its agents are ${listed.join(', ')}`);
  return name;
}
