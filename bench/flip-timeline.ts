// Where a flip's time goes: pp-setlive's debug log ("applying" lines carry the action kind and pino's epoch-ms
// `time`) read back per flip, turned into the median time of each step.
import { readFile } from 'node:fs/promises';
import { ms, percentile } from './support.js';

/** One flip as the benchmark saw it, in epoch ms. */
export interface FlipTimes {
  /** The intent write began. */
  put: number;
  /** The intent write returned (the key is in the store). */
  written: number;
  /** The service first answered the new version. */
  answered: number;
  /** runsv forked the new version's process (its status record); what follows is the service's own start. */
  forked: number;
}

interface LogLine {
  /** pino's time: epoch ms, or an ISO string with the logger's isoTime. */
  time: number | string;
  action?: string;
  msg?: string;
}

async function applyingLines(logFile: string): Promise<Array<LogLine & { time: number }>> {
  const lines: Array<LogLine & { time: number }> = [];
  for (const text of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const line = JSON.parse(text) as LogLine;
      const time = typeof line.time === 'string' ? Date.parse(line.time) : line.time;
      if (line.msg === 'applying' && line.action) lines.push({ ...line, time });
    } catch {
      // a line cut by a restart: ignore
    }
  }
  return lines;
}

/**
 * Median duration of each step of a flip: the store write, intent written → first action (watch wake-up, observe,
 * plan), each action until the next one starts, and the last action before the answer → answer.
 */
export async function flipTimeline(logFile: string, flips: FlipTimes[]): Promise<string> {
  const lines = await applyingLines(logFile);
  const steps = new Map<string, number[]>();
  const add = (name: string, value: number) => steps.set(name, [...(steps.get(name) ?? []), value]);
  for (const f of flips) {
    add('store put', f.written - f.put);
    const mine = lines.filter((l) => l.time >= f.written && l.time <= f.answered);
    const first = mine[0];
    if (!first) continue;
    add('wake+observe+plan', first.time - f.written);
    for (const [i, line] of mine.entries()) {
      const next = mine[i + 1];
      add(next ? line.action! : `${line.action} → answer`, (next ? next.time : f.answered) - line.time);
    }
  }
  return [...steps.entries()].map(([name, xs]) => `${name} ${ms(percentile(xs, 50))}`).join('; ');
}
