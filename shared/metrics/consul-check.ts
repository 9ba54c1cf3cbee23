import type { Logger } from 'pino';
import type { CheckStatus, HealthState } from './health.js';
import type { MetricsRegistry } from './registry.js';

/** The local Consul agent's check API, as the store gives it (ConsulStore.agentChecks). */
export interface AgentChecks {
  /** host:port of the Consul agent the checks go to. */
  address: string;
  register(check: { id: string; name: string; ttl: string; notes: string; status: CheckStatus; output: string }): Promise<void>;
  update(id: string, status: CheckStatus, output: string): Promise<void>;
}

export interface ConsulCheckOptions {
  agent: string;
  node: string;
  ttlSeconds: number;
  log: Logger;
  metrics: MetricsRegistry;
}

const STOP_WAIT_MS = 5000;

/** `pp-<agent>:<node>`: several nodes may share one Consul agent. */
export const checkId = (agent: string, node: string) => `pp-${agent}:${node}`;

/**
 * Keeps the agent's TTL check in Consul: registered at start, updated as soon as its status or output changes
 * (one request at a time; a change made meanwhile is sent next) and refreshed every third of the TTL. The refresh
 * runs on a timer but sends what HealthState says, which turns critical ("stuck") when the loop stops passing; a
 * process too stuck to run the timer lets the TTL lapse, and Consul turns the check critical by itself.
 */
export class ConsulCheck {
  readonly id: string;
  private sent: { status: CheckStatus; output: string } | undefined;
  private sentAt = 0;
  private sending: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private registered = false;
  private readonly updates;

  constructor(
    private readonly api: AgentChecks,
    private readonly health: HealthState,
    private readonly o: ConsulCheckOptions,
  ) {
    this.id = checkId(o.agent, o.node);
    this.updates = o.metrics.counter('platypus_consul_check_updates_total', 'Updates of the Consul TTL check, by status sent and result.', [
      'status',
      'result',
    ]);
  }

  private get refreshMs(): number {
    return (this.o.ttlSeconds * 1000) / 3;
  }

  /**
   * Registers the check (as HealthState says: "starting") and keeps it up to date. A refused registration (Consul
   * down, an ACL without the rule in README) is logged and tried again with the next update: the agent runs anyway.
   */
  async start(): Promise<void> {
    this.health.onChange(() => this.update());
    this.sending = this.send(this.health.check()).finally(() => {
      this.sending = undefined;
      this.schedule();
    });
    await this.sending;
  }

  private register(next: { status: CheckStatus; output: string }): Promise<void> {
    return this.api.register({
      id: this.id,
      name: `pp-${this.o.agent} on ${this.o.node}`,
      ttl: `${this.o.ttlSeconds}s`,
      notes: `Platypus agent pp-${this.o.agent} of node ${this.o.node}: critical when an app failed or the agent cannot read intent, warning when an app stays pending; lapses when the agent is dead or stuck.`,
      ...next,
    });
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const pendingWarn = this.health.nextPendingWarningIn();
    const wait = Math.min(Math.max(0, this.sentAt + this.refreshMs - Date.now()), pendingWarn ?? Infinity);
    this.timer = setTimeout(() => this.update(), wait + 10);
    this.timer.unref();
  }

  /** Sends the current state if it changed or the refresh is due; never waits, never throws. */
  update(): void {
    if (this.stopped) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    const next = this.health.check();
    const due = Date.now() - this.sentAt >= this.refreshMs - 50;
    if (!due && this.sent?.status === next.status && this.sent.output === next.output) {
      this.schedule();
      return;
    }
    this.sending = this.send(next).finally(() => {
      this.sending = undefined;
      if (this.again) {
        this.again = false;
        this.update();
      } else this.schedule();
    });
  }

  private async send(next: { status: CheckStatus; output: string }): Promise<void> {
    try {
      if (this.registered) await this.api.update(this.id, next.status, next.output);
      else {
        await this.register(next);
        this.registered = true;
        this.o.log.info({ action: 'consul-check', check: this.id, consul: this.api.address }, `registered Consul check ${this.id}`);
      }
      this.updates.inc({ status: next.status, result: 'ok' });
      if (this.sent?.status !== next.status) this.o.log.info({ action: 'consul-check', check: this.id, status: next.status }, next.output);
      this.sent = next;
      this.sentAt = Date.now();
    } catch (err) {
      this.updates.inc({ status: next.status, result: 'error' });
      // The Consul agent may have lost the check (restarted without its data): registered again next time.
      this.registered = false;
      // Tried again at the next change or refresh; the TTL covers a few misses.
      this.o.log.warn({ action: 'consul-check', check: this.id, err: (err as Error).message }, 'cannot update the Consul check');
      this.sentAt = Date.now() - this.refreshMs + Math.min(this.refreshMs, 30_000);
    }
  }

  /**
   * A clean stop: the check is left critical with "stopped at …" (see README), so a stopped agent stays visible.
   * Waits at most STOP_WAIT_MS for Consul: a stop must not hang on an agent that does not answer (the TTL lapses).
   */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => {
      timer = setTimeout(r, STOP_WAIT_MS);
    });
    await Promise.race([
      (async () => {
        await this.sending;
        this.stopped = true;
        await this.send(this.health.check());
      })(),
      late,
    ]);
    this.stopped = true;
    clearTimeout(timer);
  }
}
