// Crash tests' entry point: `node sigkill-after-actions.mjs <agent program> [args…]` runs the agent and SIGKILLs it
// right after its N-th applied action (N from PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS), before the next one starts, so
// a test can stop a flip exactly between two steps. The agents themselves carry no test-only flag for this.
import { subscribe } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const after = Number(process.env.PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS);
if (!Number.isInteger(after) || after < 1) throw new Error('PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS must be a positive integer');
let applied = 0;
subscribe('platypus:action-applied', () => {
  applied += 1;
  if (applied >= after) process.kill(process.pid, 'SIGKILL');
});
const [program] = process.argv.splice(2, 1);
await import(pathToFileURL(resolve(program)).href);
