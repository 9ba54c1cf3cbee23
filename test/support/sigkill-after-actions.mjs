// Crash tests' entry point: `node sigkill-after-actions.mjs <agent program> [args…]` runs the agent and SIGKILLs it
// right after its N-th applied action (N from PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS), before the next one starts, so
// a test can stop a flip exactly between two steps. Where PLATYPUS_TEST_APPLIED_LOG names a file, each applied
// action is appended to it as a JSON line first, so a test sees what a real process did (none: nothing was redone).
// The agents themselves carry no test-only flag for this.
import { appendFileSync } from 'node:fs';
import { subscribe } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const killAfter = process.env.PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS;
const after = killAfter === undefined ? Number.POSITIVE_INFINITY : Number(killAfter);
if (killAfter !== undefined && (!Number.isInteger(after) || after < 1))
  throw new Error('PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS must be a positive integer');
const appliedLog = process.env.PLATYPUS_TEST_APPLIED_LOG;
let applied = 0;
subscribe('platypus:action-applied', (message) => {
  if (appliedLog) appendFileSync(appliedLog, `${JSON.stringify(message)}\n`);
  applied += 1;
  if (applied >= after) process.kill(process.pid, 'SIGKILL');
});
const [program] = process.argv.splice(2, 1);
await import(pathToFileURL(resolve(program)).href);
