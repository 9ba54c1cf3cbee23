import type { Logger } from 'pino';
import { type NodeIntent, nodeIntentFromSnapshot } from '../intent/node-intent.js';
import type { Snapshot } from '../store/types.js';
import type { TrustGate } from '../trust/gate.js';
import type { AgentStateContent, AgentStateStore } from './agent-state.js';
import type { Action, Agent } from './types.js';

/**
 * The one place the loop keeps what an agent must remember across restarts: the agent's own memory, the trust
 * gate's accepted orders and when each app was first seen intended here. Loaded from the agent's state file
 * before the first judgement, saved after every judgement (an accepted order is remembered before it is acted
 * on) and every pass. The daemon, --once and --dry-run judge intent through it alike; --dry-run never saves.
 */
export class LoopMemory {
  private readonly firstSeen = new Map<string, string>();

  constructor(
    private readonly agent: Pick<Agent<unknown, Action>, 'memory' | 'name'>,
    private readonly state: AgentStateStore,
    private readonly trust: TrustGate | undefined,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Reads the state file; throws (naming it) when it exists but cannot be read, so the agent does not start blind. */
  load(): void {
    const saved = this.state.load();
    if (!saved) return;
    if (saved.agent !== undefined) this.agent.memory?.load(saved.agent);
    if (saved.trust !== undefined) this.trust?.load(saved.trust);
    const seen = saved.firstSeen;
    if (Array.isArray(seen))
      for (const e of seen)
        if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string' && !Number.isNaN(Date.parse(e[1])))
          this.firstSeen.set(e[0], e[1]);
  }

  /** The node's intent from a read of its prefix as this agent reads it, judged by the trust gate when there is one. */
  judge(prefix: string, node: string, snapshot: Snapshot): NodeIntent {
    this.trust?.knowFirstSeen(this.firstSeen);
    const intent = nodeIntentFromSnapshot(prefix, node, snapshot, this.trust, this.agent.name);
    const now = this.clock().toISOString();
    for (const app of intent.apps.keys()) if (!this.firstSeen.has(app)) this.firstSeen.set(app, now);
    return intent;
  }

  /** Saves the state when it changed; false (logged) when it could not be written. */
  async save(): Promise<boolean> {
    const content: AgentStateContent = {
      firstSeen: [...this.firstSeen].sort(([a], [b]) => (a < b ? -1 : 1)),
      ...(this.agent.memory ? { agent: this.agent.memory.save() } : {}),
      ...(this.trust ? { trust: this.trust.save() } : {}),
    };
    try {
      await this.state.save(content);
      return true;
    } catch (err) {
      this.log.error(
        { action: 'save-state', err: (err as Error).message },
        `cannot save this agent's state in ${this.state.location}: a restart now would forget what was accepted since`,
      );
      return false;
    }
  }
}
