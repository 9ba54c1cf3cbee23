// Shared helpers for the benchmarks: flags, the table every benchmark adds rows to, statistics, timing.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The repository root, from dist-bench/bench/ (tsconfig.bench.json) where these modules run. */
export const REPO = resolve(import.meta.dirname, '../..');

/** The compiled entry of `pp` or of an agent of agents/agents.json (e.g. `preparer`). */
export const agentBin = (name: string): string =>
  name === 'pp' ? resolve(REPO, 'dist/pp/index.js') : resolve(REPO, 'dist/agents', name, 'index.js');

/** The node flags of a program's shebang (`#!/usr/bin/env -S node --expose-gc`), so a bench runs it as its bin would. */
export function shebangNodeFlags(program: string): string[] {
  const first = readFileSync(program, 'utf8').split('\n')[0] ?? '';
  return (/^#!.*\bnode\b(.*)$/.exec(first)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/** The value after `--name`, or `fallback` when the flag is absent. */
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** True when the bare `--name` flag is given. */
export const hasFlag = (name: string): boolean => process.argv.includes(`--${name}`);

/** A numeric flag; throws naming the flag when its value is not a number. */
export function numberFlag(name: string, fallback: number): number {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name}: expected a number >= 0, got ${flag(name, '')}`);
  return value;
}

/** One line of the final table: a figure, the target it is held to (if any) and the baseline beside it. */
export interface Row {
  bench: string;
  metric: string;
  value: string;
  target?: string;
  baseline?: string;
  /** 'met' / 'MISSED' when there is a target. */
  verdict?: string;
}

/** Verdict for a figure against an upper bound. */
export const verdict = (value: number, max: number): string => (value <= max ? 'met' : 'MISSED');

/** Prints rows as an aligned text table (also valid Markdown). */
export function printTable(rows: Row[]): void {
  const head = ['benchmark', 'figure', 'value', 'target', 'verdict', 'baseline (same run)'];
  const cells = rows.map((r) => [r.bench, r.metric, r.value, r.target ?? '', r.verdict ?? '', r.baseline ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write(`${[line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')}\n`);
}

/** The p-th percentile (0–100, nearest rank) of `xs`; NaN when empty. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export const ms = (x: number): string => `${x.toFixed(0)} ms`;
export const sec = (x: number): string => `${x.toFixed(2)} s`;
export const mb = (x: number): string => `${x.toFixed(1)} MB`;

export const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

/** Polls `probe` every `everyMs` until it returns a value other than undefined; throws naming `what` on timeout. */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Progress on stderr, so stdout keeps only the table. */
export const say = (text: string): void => {
  process.stderr.write(`bench: ${text}\n`);
};
