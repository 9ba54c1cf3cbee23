import { readFileSync } from 'node:fs';
import { defineFlags, type FlagValues } from '../../shared/cli/flags.js';
import type { ProgressMode } from './progress.js';
import type { PreparerOptions } from './types.js';

const UNITS: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 };

/** Parses a byte size such as 512M, 4G or 1048576 (binary units); throws a specific error otherwise. */
export function parseSize(value: string | number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(String(value).trim());
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) throw new Error(`expected a size such as 512M, 4G or a number of bytes, got ${JSON.stringify(value)}`);
  return Math.floor(Number(m[1]) * unit);
}

/** The flags pp-preparer adds to the shared ones. */
export const PREPARER_FLAGS = defineFlags({
  keep: {
    type: 'number',
    default: 2,
    describe: 'installs not named by intent to keep besides the one <basedir>/current points to (rollback targets)',
  },
  'max-bytes': { type: 'string', default: '4G', describe: 'refuse archives whose content adds up to more than this (e.g. 512M, 4G)' },
  'max-entries': { type: 'number', default: 100_000, describe: 'refuse archives with more entries than this' },
  'max-ratio': {
    type: 'number',
    default: 200,
    describe: 'refuse archives that inflate to more than this many times their compressed size (checked past the first 8 MB of output)',
  },
  'max-download-bytes': { type: 'string', default: '5G', describe: 'refuse artifacts (compressed) larger than this (e.g. 512M, 5G)' },
  'ca-file': { type: 'string', describe: 'PEM file of extra CA certificates trusted for https:// artifact URLs' },
  'download-timeout-seconds': {
    type: 'number',
    default: 60,
    describe: 'abort a download when no byte arrives for this long (it is retried with backoff)',
  },
  'download-deadline-seconds': {
    type: 'number',
    default: 3600,
    describe: 'abort a download (and its extraction) that takes longer than this in all (it is retried with backoff)',
  },
  parallel: { type: 'number', default: 4, describe: "how many apps are installed at once (each app's versions one after another)" },
  progress: {
    type: 'string',
    choices: ['auto', 'tty', 'log', 'off'],
    default: 'auto',
    describe: 'download progress: auto = a redrawn line when stderr is a terminal, else log lines',
  },
});

/** Throws an Error naming the flag when a pp-preparer flag's value is out of range. */
export function checkPreparerFlags(a: FlagValues<typeof PREPARER_FLAGS>): void {
  for (const flag of ['max-bytes', 'max-download-bytes'] as const) {
    try {
      parseSize(a[flag]);
    } catch (err) {
      throw new Error(`--${flag}: ${(err as Error).message}`);
    }
  }
  for (const flag of ['keep', 'max-entries', 'max-ratio', 'download-timeout-seconds', 'download-deadline-seconds', 'parallel'] as const) {
    const n = a[flag];
    if (n < 0 || (flag !== 'keep' && n === 0))
      throw new Error(`--${flag}: expected a ${flag === 'keep' ? 'non-negative' : 'positive'} number, got ${n}`);
  }
}

type PreparerArgs = {
  keep: number;
  'max-bytes': string;
  'max-entries': number;
  'max-ratio': number;
  'max-download-bytes': string;
  'ca-file'?: string;
  'download-timeout-seconds': number;
  'download-deadline-seconds': number;
  progress: string;
  parallel?: number;
};

/** Turns parsed flags into the agent's options (reads the CA file; throws a specific error when it cannot). */
export function preparerOptions(args: PreparerArgs, isTty = process.stderr.isTTY === true): PreparerOptions {
  let ca: Buffer | undefined;
  if (args['ca-file']) {
    try {
      ca = readFileSync(args['ca-file']);
    } catch (err) {
      throw new Error(`--ca-file ${args['ca-file']}: ${(err as Error).message}`);
    }
  }
  const progress = (args.progress === 'auto' ? (isTty ? 'tty' : 'log') : args.progress) as ProgressMode;
  return {
    keep: Math.floor(args.keep),
    maxBytes: parseSize(args['max-bytes']),
    maxEntries: Math.floor(args['max-entries']),
    maxRatio: args['max-ratio'],
    maxDownloadBytes: parseSize(args['max-download-bytes']),
    ca,
    downloadTimeoutMs: args['download-timeout-seconds'] * 1000,
    downloadDeadlineMs: args['download-deadline-seconds'] * 1000,
    progress,
    parallel: Math.max(1, Math.floor(args.parallel ?? 4)),
  };
}
