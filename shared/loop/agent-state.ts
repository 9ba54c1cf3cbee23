import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { stableJson } from '../stable-json.js';

/**
 * What an agent must remember across a restart to stay safe (which orders it accepted, where a removed app kept
 * its files), kept in a file on the node's own disk. Never read back from the store: any folder-store writer, and
 * on Consul a holder of the node's agent token, can write reality, so a memory read from there could be forged
 * into a removal. Reality only reports it.
 */
export interface AgentStateContent {
  /** The trust gate's memory (shared/trust/gate.ts). */
  trust?: unknown;
  /** The agent's own memory (Agent.memory). */
  agent?: unknown;
  /** When each app was first seen intended on this node. */
  firstSeen?: unknown;
}

/** Where an agent's state is kept: loaded once at start, saved after each pass that changed it. */
export interface AgentStateStore {
  /** Where it lives, for messages. */
  readonly location: string;
  /** The saved state, or undefined when there is none yet; throws when it exists but cannot be read. */
  load(): AgentStateContent | undefined;
  /** Saves `content` (atomically); a no-op when it equals what was saved last. */
  save(content: AgentStateContent): Promise<void>;
}

const FORMAT = 'platypus-agent-state/1';

/** The default of --state-dir: /var/lib/platypus as root, else $XDG_STATE_HOME/platypus (~/.local/state/platypus). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (env.PLATYPUS_STATE_DIR) return env.PLATYPUS_STATE_DIR;
  if (uid === 0) return '/var/lib/platypus';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'platypus');
}

/**
 * `<dir>/<agent>/<node>@<hash>.json`: one file per agent, node, store and prefix, because memory about one
 * fleet's orders means nothing for another (and simulated nodes may share one machine).
 */
export function stateFilePath(dir: string, agent: string, node: string, store: string, prefix: string): string {
  const scope = createHash('sha256').update(`${store}\n${prefix}`).digest('hex').slice(0, 16);
  return join(dir, agent, `${node}@${scope}.json`);
}

/** An agent's state in a JSON file, written temp → fsync → rename, so a SIGKILL leaves the old state or the new. */
export class AgentStateFile implements AgentStateStore {
  private saved: string | undefined;

  constructor(
    readonly location: string,
    /** What the file is about, written into it so a reader can tell which agent, node and prefix it serves. */
    private readonly about: { agent: string; node: string; prefix: string; store: string },
  ) {}

  load(): AgentStateContent | undefined {
    let text: string;
    try {
      text = readFileSync(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`state file ${this.location}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(
        `state file ${this.location}: not valid JSON (${(err as Error).message}); move it away to start with no memory of accepted orders and removed apps`,
      );
    }
    const o = parsed as ({ format?: unknown } & AgentStateContent) | null;
    if (!o || typeof o !== 'object' || o.format !== FORMAT)
      throw new Error(`state file ${this.location}: expected an object with "format": "${FORMAT}"`);
    const content = { trust: o.trust, agent: o.agent, firstSeen: o.firstSeen };
    this.saved = stableJson(content);
    return content;
  }

  async save(content: AgentStateContent): Promise<void> {
    const text = stableJson(content);
    if (text === this.saved) return;
    await writeFileAtomic(this.location, `${JSON.stringify({ format: FORMAT, ...this.about, ...content })}\n`, 0o600);
    this.saved = text;
  }
}

/** State kept in this process only: for in-process agents (tests, embedders) that chose no file. */
export class ProcessState implements AgentStateStore {
  readonly location = 'this process (no --state-dir)';
  private content: AgentStateContent | undefined;

  constructor(initial?: AgentStateContent) {
    this.content = initial;
  }

  load(): AgentStateContent | undefined {
    return this.content;
  }

  async save(content: AgentStateContent): Promise<void> {
    this.content = JSON.parse(stableJson(content)) as AgentStateContent;
  }
}
