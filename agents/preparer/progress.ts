import type { Logger } from 'pino';

/** Where download progress goes: a redrawn terminal line, a log line every LOG_EVERY_MS, or nowhere. */
export type ProgressMode = 'tty' | 'log' | 'off';

const TTY_EVERY_MS = 250;
const LOG_EVERY_MS = 5000;

const mb = (n: number) => (n / (1 << 20)).toFixed(1);

/** One progress line: "web 1.2: 120.0/512.0 MB (23%) 85.3 MB/s". */
export function progressLine(label: string, bytes: number, total: number | undefined, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? ` ${mb((bytes * 1000) / elapsedMs)} MB/s` : '';
  const of = total ? `/${mb(total)} MB (${Math.floor((bytes * 100) / total)}%)` : ' MB';
  return `${label}: ${mb(bytes)}${of}${rate}`;
}

/**
 * Reports a download's progress: on a terminal (stderr is a TTY) by redrawing one line, otherwise as
 * info log lines at most every few seconds. `done` ends the terminal line.
 */
export function progressReporter(mode: ProgressMode, label: string, total: number | undefined, log: Logger, now: () => number = Date.now) {
  const started = now();
  let last = started;
  let drawn = false;
  return {
    update(bytes: number): void {
      const t = now();
      if (mode === 'off' || t - last < (mode === 'tty' ? TTY_EVERY_MS : LOG_EVERY_MS)) return;
      last = t;
      if (mode === 'tty') {
        process.stderr.write(`\r\u001b[K${progressLine(label, bytes, total, t - started)}`);
        drawn = true;
      } else {
        log.info({ action: 'download', bytes, total }, progressLine(label, bytes, total, t - started));
      }
    },
    done(bytes: number): void {
      if (mode === 'tty' && drawn) process.stderr.write(`\r\u001b[K${progressLine(label, bytes, total, now() - started)}\n`);
    },
  };
}
