import type { LoopHooks } from '../loop/hooks.js';
import type { AppOutcome } from '../loop/types.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface HealthOptions {
  /** The loop passes at least this often (--resync-seconds): a pass older than twice that, plus 30 s, is late. */
  resyncMs: number;
  /** An app pending longer than this makes the check warn (--check-pending-seconds). */
  pendingWarnMs: number;
  now?: () => number;
}

/** Consecutive failed watch reads after which the check says the watch keeps failing. */
const WATCH_FAILURES_CRITICAL = 3;
/** Consul keeps a check's output up to 4 KB by default; one line is enough. */
const MAX_OUTPUT = 1000;

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const clip = (text: string) => (text.length > MAX_OUTPUT ? `${text.slice(0, MAX_OUTPUT - 1)}…` : text);
const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;

/**
 * What /healthz and the Consul check say, from the loop's hooks alone (no store request, no wait): when the last
 * pass ended, whether the store answered the watch, each app's status and since when it is pending.
 */
export class HealthState {
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastPassAt: number | undefined;
  private passError: string | undefined;
  private watchFailures = 0;
  private watchError: string | undefined;
  private watchFailingSince: number | undefined;
  private outcomes: AppOutcome[] = [];
  private readonly pendingSince = new Map<string, number>();
  private stoppedAt: number | undefined;
  private readonly listeners: Array<() => void> = [];
  readonly hooks: LoopHooks;

  constructor(private readonly o: HealthOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    this.hooks = {
      watched: (err) => {
        if (err === undefined) {
          if (this.watchFailures === 0) return;
          this.watchFailures = 0;
          this.watchError = undefined;
          this.watchFailingSince = undefined;
        } else {
          this.watchFailures += 1;
          this.watchError = oneLine((err as Error).message ?? String(err));
          this.watchFailingSince ??= this.now();
        }
        this.changed();
      },
      passDone: ({ outcomes, observeError, realityError }) => {
        const now = this.now();
        this.lastPassAt = now;
        this.passError = observeError ? oneLine(observeError) : realityError ? `cannot write reality: ${oneLine(realityError)}` : undefined;
        this.outcomes = outcomes;
        for (const o of outcomes) if (o.status === 'pending' && !this.pendingSince.has(o.app)) this.pendingSince.set(o.app, now);
        for (const app of this.pendingSince.keys())
          if (!outcomes.some((o) => o.app === app && o.status === 'pending')) this.pendingSince.delete(app);
        this.changed();
      },
      stopped: () => {
        this.stoppedAt = this.now();
        this.changed();
      },
    };
  }

  /** Called whenever what check() or healthz() says may have changed. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** How long a pass may be absent before the loop counts as stuck. */
  private get passDueMs(): number {
    return 2 * this.o.resyncMs + 30_000;
  }

  /** The agent's own health: ok when the last pass ended in time and the store answered; else why not. */
  healthz(): { ok: boolean; reason: string } {
    const now = this.now();
    if (this.stoppedAt !== undefined) return { ok: false, reason: 'stopped' };
    if (this.watchError !== undefined)
      return {
        ok: false,
        reason: `the store does not answer the watch (for ${seconds(now - this.watchFailingSince!)}): ${this.watchError}`,
      };
    if (this.lastPassAt === undefined) return { ok: false, reason: `starting: no pass yet after ${seconds(now - this.startedAt)}` };
    if (now - this.lastPassAt > this.passDueMs)
      return { ok: false, reason: `no pass for ${seconds(now - this.lastPassAt)} (expected at least every ${seconds(this.o.resyncMs)})` };
    if (this.passError) return { ok: false, reason: this.passError };
    return { ok: true, reason: `ok: ${this.summary()}` };
  }

  private summary(): string {
    const count = (s: string) => this.outcomes.filter((o) => o.status === s).length;
    const n = this.outcomes.length;
    if (n === count('converged')) return `${n} app${n === 1 ? '' : 's'} converged`;
    return `${n} apps: ${count('converged')} converged, ${count('pending')} pending, ${count('failed')} failed`;
  }

  /** The Consul check's status and one-line output. */
  check(): { status: CheckStatus; output: string } {
    const now = this.now();
    if (this.stoppedAt !== undefined) return { status: 'critical', output: `stopped at ${new Date(this.stoppedAt).toISOString()}` };
    if (this.watchFailures >= WATCH_FAILURES_CRITICAL)
      return { status: 'critical', output: clip(`cannot read intent (${this.watchFailures} failures in a row): ${this.watchError}`) };
    if (this.lastPassAt === undefined) return { status: 'warning', output: 'starting: no pass yet' };
    if (now - this.lastPassAt > this.passDueMs)
      return { status: 'critical', output: `stuck: no pass for ${seconds(now - this.lastPassAt)}` };
    if (this.passError) return { status: 'critical', output: clip(this.passError) };
    const failed = this.outcomes.filter((o) => o.status === 'failed');
    if (failed.length > 0) {
      const apps = failed.map((o) => `${o.app}${o.version ? ` ${o.version}` : ''}: ${oneLine(o.error ?? 'failed')}`);
      return { status: 'critical', output: clip(`${failed.length} failed: ${apps.join('; ')}`) };
    }
    const late = [...this.pendingSince].filter(([, since]) => now - since >= this.o.pendingWarnMs);
    if (late.length > 0) {
      const apps = late.map(([app, since]) => {
        const reason = this.outcomes.find((o) => o.app === app)?.reason;
        return `${app} pending for ${seconds(now - since)}${reason ? `: ${oneLine(reason)}` : ''}`;
      });
      return { status: 'warning', output: clip(apps.join('; ')) };
    }
    return { status: 'passing', output: this.summary() };
  }

  /** Milliseconds until an app pending now crosses the warning threshold (undefined: none will). */
  nextPendingWarningIn(): number | undefined {
    const now = this.now();
    const due = [...this.pendingSince.values()].map((since) => since + this.o.pendingWarnMs - now).filter((ms) => ms > 0);
    return due.length ? Math.min(...due) : undefined;
  }
}
