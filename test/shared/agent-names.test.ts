import { describe, expect, it } from 'vitest';
import { agentNames } from '../../shared/agent-list.js';
import { agentFor } from '../../shared/agent-names.js';

describe('the agents named by the part they play', () => {
  it('are agents of agents/agents.json', () => {
    expect(agentNames()).toContain(agentFor('stages'));
    expect(agentNames()).toContain(agentFor('putsLive'));
    expect([agentFor('stages'), agentFor('putsLive')]).toEqual(['preparer', 'setlive']);
  });

  it('fail by name when the list lacks one', () => {
    expect(() => agentFor('putsLive', ['preparer', 'iptables'])).toThrow(
      'agents/agents.json lists no agent setlive, the agent that puts versions live; its agents are preparer, iptables',
    );
  });
});
