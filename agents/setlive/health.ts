import { sleep } from '../../shared/backoff.js';
import type { HealthIntent } from '../../shared/intent/schema.js';
import { runCommand } from '../../shared/process.js';
import { httpGetText } from './http-get.js';
import type { SetliveConfig } from './options.js';
import { readRunsvStatus, type SvStatus } from './runsv-status.js';

/** One health check's verdict and what it said (kept short enough for a reality record). */
export interface CheckResult {
  ok: boolean;
  output: string;
}

const OUTPUT_LIMIT = 500;
const RETRY_MS = 200;

function clip(text: string): string {
  const t = text.trim();
  return t.length > OUTPUT_LIMIT ? `${t.slice(0, OUTPUT_LIMIT)}…` : t;
}

async function httpCheck(url: string, timeoutMs: number): Promise<CheckResult> {
  try {
    const res = await httpGetText(url, timeoutMs);
    return {
      ok: res.status >= 200 && res.status < 300,
      output: clip(`GET ${url}: HTTP ${res.status}${res.body.trim() ? `: ${res.body}` : ''}`),
    };
  } catch (err) {
    return { ok: false, output: clip(`GET ${url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`) };
  }
}

async function commandCheck(argv: string[], cwd: string, timeoutMs: number): Promise<CheckResult> {
  try {
    const r = await runCommand(argv, { cwd, timeoutMs });
    const said = clip(r.stdout + r.stderr);
    return { ok: r.exitCode === 0, output: `${argv.join(' ')}: exit ${r.exitCode}${said ? `: ${said}` : ''}` };
  } catch (err) {
    return { ok: false, output: clip(`${argv.join(' ')}: ${(err as Error).message}`) };
  }
}

/** Runs the intent's HTTP GET (2xx passes) or command (exit 0 passes, run in `cwd`) once. */
export function runHealthCheck(health: HealthIntent, cwd: string, timeoutMs: number): Promise<CheckResult> {
  const budget = Math.max(100, timeoutMs);
  if (health.http !== undefined) return httpCheck(health.http, budget);
  return commandCheck(health.command ?? [], cwd, budget);
}

/** How long the process has been up by runsv's record of when it started; -1 when it is not running (or about to be stopped). */
export function upAtLeastMs(status: SvStatus): number {
  if (status.state !== 'run' || status.wantDown || status.sinceMs === undefined) return -1;
  return Math.max(0, Date.now() - status.sinceMs);
}

/** True when the process has surely been up for the settle time, judging from one status. */
export function settled(status: SvStatus, config: SetliveConfig): boolean {
  return upAtLeastMs(status) >= config.settleMs;
}

/**
 * Waits until the service in `dir` has been up for the settle time (the same pid seen running that long by
 * our clock, or runit's own count) and, when a check is given, passes it; gives up `timeoutMs` after the
 * process started (a process already running when the wait begins has had part of it). The failure carries
 * the last check output (or runit's status). Throws an AbortError as soon as `signal` aborts: the agent is
 * stopping, and the next run waits for the rest (counted from the same start).
 */
export async function awaitHealthy(
  config: SetliveConfig,
  dir: string,
  cwd: string,
  health: HealthIntent | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<CheckResult> {
  let status: SvStatus = await readRunsvStatus(dir);
  // Counted from the process's start, not from this call: an agent killed mid-wait and restarted, again and
  // again, still reaches the deadline (and the rollback) of a version that never becomes healthy.
  const deadline = Date.now() + timeoutMs - Math.max(0, upAtLeastMs(status));
  let lastCheck: string | undefined;
  let seen: { pid?: number; at: number } | undefined;
  for (let first = true; ; first = false) {
    signal?.throwIfAborted();
    if (!first) status = await readRunsvStatus(dir);
    const up = upAtLeastMs(status);
    if (up < 0 || seen?.pid !== status.pid) seen = up < 0 ? undefined : { pid: status.pid, at: Date.now() };
    if (seen && Math.max(up, Date.now() - seen.at) >= config.settleMs) {
      if (!health) return { ok: true, output: status.text };
      // At least a second even at the deadline: a process that had most of its time already gets one fair check.
      const check = await runHealthCheck(health, cwd, Math.min(5000, Math.max(1000, deadline - Date.now())));
      if (check.ok) return check;
      lastCheck = check.output;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())), signal);
  }
  signal?.throwIfAborted();
  const why = lastCheck ?? `service never stayed up for ${config.settleMs} ms (runit: ${status.text})`;
  return { ok: false, output: why };
}

const HOLD_CHECK_MS = 500;

/**
 * After a version became healthy: checks it again and again for `holdMs` (Nomad's min_healthy_time), failing at
 * the first check that fails or when the process restarts (its pid changes or it goes down).
 */
export async function holdHealthy(
  dir: string,
  cwd: string,
  health: HealthIntent | undefined,
  holdMs: number,
  signal?: AbortSignal,
): Promise<CheckResult> {
  const until = Date.now() + holdMs;
  const firstPid = (await readRunsvStatus(dir)).pid;
  let last: CheckResult = { ok: true, output: 'healthy' };
  while (Date.now() < until) {
    await sleep(Math.min(HOLD_CHECK_MS, Math.max(0, until - Date.now())), signal);
    const status = await readRunsvStatus(dir);
    if (upAtLeastMs(status) < 0 || status.pid !== firstPid)
      return { ok: false, output: `the process did not stay up for ${holdMs} ms (runit: ${status.text})` };
    if (health) {
      last = await runHealthCheck(health, cwd, Math.min(5000, Math.max(1000, health.timeoutMs)));
      if (!last.ok) return { ok: false, output: `failed within ${holdMs} ms of becoming healthy: ${last.output}` };
    }
  }
  return last;
}
