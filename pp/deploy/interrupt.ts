/**
 * How a deploy learns it must stop: the command layer (commands.ts) aborts an AbortSignal on SIGINT or SIGTERM, with
 * the signal's name as its reason, and the deploy stops at its next step, so that it can record where it stopped
 * and give its lock back (exit 130) instead of dying between two writes.
 */

/** Thrown where a deploy notices its signal aborted; the orchestrator turns it into the `interrupted` outcome. */
export class Interrupted extends Error {
  constructor(readonly by: string) {
    super(`interrupted by ${by}`);
  }
}

/** The name of what aborted `signal` (SIGINT, SIGTERM). */
export function abortedBy(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'a signal';
}

/** Throws Interrupted once `signal` is aborted. */
export function throwIfInterrupted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted(abortedBy(signal));
}

/**
 * `work`'s result, or Interrupted as soon as `signal` aborts. Only for work that writes nothing (reading stdin, the
 * analysis, a prompt): it is left to finish unobserved, and the process ends without waiting for it.
 */
export function untilInterrupted<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(new Interrupted(abortedBy(signal)));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Interrupted(abortedBy(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
