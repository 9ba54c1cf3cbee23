/**
 * For crash tests only (hidden flag --test-sigkill-after-actions N): returns a callback that SIGKILLs this
 * process right after its N-th applied action, so a test can stop a flip exactly between two steps. The
 * kill is synchronous: nothing of the next action runs.
 */
export function sigkillAfterActions(n: number | undefined): (() => void) | undefined {
  if (n === undefined || n <= 0) return undefined;
  let applied = 0;
  return () => {
    applied += 1;
    if (applied >= n) process.kill(process.pid, 'SIGKILL');
  };
}
