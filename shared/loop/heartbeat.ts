import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { platypusVersion } from '../cli/version.js';
import { SECTION_NAMES } from '../intent/sections.js';
import { parseJson } from '../json-depth.js';
import { heartbeatKey } from '../keys.js';
import type { IntentStore } from '../store/types.js';

/**
 * The value of `<prefix>/reality/<node>/<agent>/.heartbeat`. Reality records are written only on change, so an
 * idle agent and a dead one look alike in them; this key, refreshed by the loop itself every `everySeconds`,
 * tells them apart: a reader counts an agent silent when `at` is older than a few `everySeconds`.
 */
export interface HeartbeatRecord {
  agent: string;
  node: string;
  /** When the loop last wrote it. */
  at: string;
  /** When this process started its loop. */
  startedAt: string;
  /** The agent writes it again after at most this many seconds while it runs. */
  everySeconds: number;
  host: string;
  pid: number;
  /** Set by a clean stop (SIGTERM/SIGINT): the agent is not running, on purpose. */
  stopped?: boolean;
  /**
   * Set when the agent runs with --trusted-signers: it acts only on signed intent, so pp refuses to write unsigned
   * intent to its node rather than let the agent refuse it there.
   */
  requiresSignatures?: boolean;
  /** The agent's Platypus version (its package.json's). */
  version?: string;
  /**
   * The intent sections the agent understands (shared/intent/sections.ts): pp refuses to write a section to its node
   * that a running agent there does not list. Absent from older agents' heartbeats: they understand BASELINE_SECTIONS.
   */
  sections?: string[];
}

/** Parses a heartbeat value; undefined when it is not one. */
export function parseHeartbeat(json: string): HeartbeatRecord | undefined {
  try {
    const value = parseJson(json) as HeartbeatRecord;
    return value && typeof value === 'object' && typeof value.at === 'string' && typeof value.everySeconds === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A heartbeat not older than this many of its intervals (and at least a minute, for clocks apart) is a running
 * agent's; pp check counts an agent silent after 3 five-minute heartbeats too.
 */
const LIVE_INTERVALS = 3;
const LIVE_MIN_SECONDS = 60;

/** True when the heartbeat is of an agent still running at `now`: not stopped cleanly, refreshed recently enough. */
export function isLiveHeartbeat(beat: HeartbeatRecord, now: number): boolean {
  if (beat.stopped) return false;
  const at = Date.parse(beat.at);
  return !Number.isNaN(at) && now - at <= Math.max(LIVE_INTERVALS * beat.everySeconds, LIVE_MIN_SECONDS) * 1000;
}

const VERSION = platypusVersion();

/** After a failed write, try again this soon (but never sooner than MIN_RETRY_MS: the loop must not spin on it). */
const RETRY_MS = 30_000;

/**
 * Refreshes the agent's heartbeat from its loop: `dueIn()` tells the loop when to wake for it, `beat()` writes it
 * without holding the loop up (one write at a time). Driven by the loop, not a timer of its own, so a loop that
 * is stuck stops beating and looks as silent as a dead agent.
 */
export class Heartbeat {
  private readonly key: string;
  private readonly startedAt = new Date().toISOString();
  private nextAt = 0;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: IntentStore,
    prefix: string,
    private readonly node: string,
    private readonly agent: string,
    private readonly everyMs: number,
    private readonly log: Logger,
    private readonly requiresSignatures = false,
    private readonly now: () => number = Date.now,
  ) {
    this.key = heartbeatKey(prefix, node, agent);
  }

  /** Milliseconds until the next beat is due (0: now). */
  dueIn(): number {
    return Math.max(0, this.nextAt - this.now());
  }

  private record(stopped: boolean): HeartbeatRecord {
    return {
      agent: this.agent,
      node: this.node,
      at: new Date(this.now()).toISOString(),
      startedAt: this.startedAt,
      everySeconds: Math.round(this.everyMs / 1000),
      host: hostname(),
      pid: process.pid,
      ...(stopped ? { stopped: true } : {}),
      ...(this.requiresSignatures ? { requiresSignatures: true } : {}),
      version: VERSION,
      sections: SECTION_NAMES,
    };
  }

  /** Writes the heartbeat when it is due and no write is in flight; never throws, never waits for the store. */
  beat(): void {
    if (this.writing || this.dueIn() > 0) return;
    this.nextAt = this.now() + this.everyMs;
    this.writing = this.store
      .put(this.key, JSON.stringify(this.record(false)))
      .catch((err: Error) => {
        this.nextAt = this.now() + Math.min(this.everyMs, RETRY_MS);
        this.log.warn({ action: 'heartbeat', err: err.message }, 'cannot write the heartbeat; will try again');
      })
      .finally(() => {
        this.writing = undefined;
      });
  }

  /** A clean stop: waits for a write in flight, then records `stopped` (errors logged, not thrown). */
  async stop(): Promise<void> {
    await this.writing;
    await this.store
      .put(this.key, JSON.stringify(this.record(true)))
      .catch((err: Error) => this.log.warn({ action: 'heartbeat', err: err.message }, 'cannot record the stop in the heartbeat'));
  }
}
