import { createInterface } from 'node:readline/promises';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { CliError } from '../read-spec.js';
import { throwIfInterrupted } from './interrupt.js';

/**
 * Asks `question` on the terminal and resolves to whether the answer is yes; refuses (exit 2) without a terminal on
 * stdin and stderr. SIGINT or SIGTERM while it asks throws Interrupted.
 */
export async function confirmDeploy(question: string, signal: AbortSignal): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new CliError(
      'no terminal to confirm on: pass --yes to deploy without confirmation (or --dry-run to only see the plan)',
      DEPLOY_EXIT.usage,
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // On a terminal readline reads Ctrl-C as a key, not as the signal: it is sent on as the SIGINT it stands for, which
  // the command layer handles as any other.
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  try {
    return /^y(es)?$/i.test((await rl.question(question, { signal })).trim());
  } catch (err) {
    throwIfInterrupted(signal);
    throw err;
  } finally {
    rl.close();
  }
}
