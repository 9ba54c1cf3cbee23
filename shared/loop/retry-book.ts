import { backoffDelay, type BackoffOptions } from '../backoff.js';

export interface Failure {
  attempts: number;
  /** Infinity for a terminal failure: never due by time. */
  nextAt: number;
  error: string;
  terminal: boolean;
  /** What the failed run answered (the caller's text of the intent it applied), to tell a retry from a new try. */
  about?: string;
}

/** Per-app failure memory: each failing app retries on its own backoff and never holds up another. */
export class RetryBook {
  private readonly failures = new Map<string, Failure>();

  constructor(
    private readonly backoff: BackoffOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records a failure; returns the delay before the app is tried again (Infinity for a terminal one, which waits
   * until the caller forgets it: a change of the app's intent).
   */
  fail(app: string, error: string, terminal = false, about?: string): number {
    const attempts = (this.failures.get(app)?.attempts ?? 0) + 1;
    const delay = terminal ? Infinity : backoffDelay(attempts, this.backoff);
    this.failures.set(app, { attempts, nextAt: this.now() + delay, error, terminal, ...(about === undefined ? {} : { about }) });
    return delay;
  }

  succeed(app: string): void {
    this.failures.delete(app);
  }

  get(app: string): Failure | undefined {
    return this.failures.get(app);
  }

  /** True while the app waits out its backoff. */
  waiting(app: string): boolean {
    const f = this.failures.get(app);
    return f !== undefined && f.nextAt > this.now();
  }

  /** Milliseconds until the earliest retry, or undefined when nothing failed. */
  nextRetryIn(): number | undefined {
    let earliest: number | undefined;
    for (const f of this.failures.values()) if (!f.terminal) earliest = earliest === undefined ? f.nextAt : Math.min(earliest, f.nextAt);
    return earliest === undefined ? undefined : Math.max(0, earliest - this.now());
  }

  /** Forgets apps that no longer exist anywhere. */
  retain(apps: Set<string>): void {
    for (const app of this.failures.keys()) if (!apps.has(app)) this.failures.delete(app);
  }
}
