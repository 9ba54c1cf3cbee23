import type { Logger } from 'pino';
import type { ActionResult } from '../../shared/loop/types.js';
import { runChecked } from '../../shared/process.js';
import { readChain, type NativeOptions } from './observe.js';
import { chainMatches, wantedJumps, type SyncChainAction } from './plan.js';
import { foreignChainProblem, type ChainState } from './rules.js';

/**
 * The iptables-restore --noflush input that gives our chain exactly `lines`: declaring the chain creates
 * it or (with --noflush) flushes only it, `-F` makes that explicit for every backend, and the INPUT jump is
 * inserted first when missing or trimmed to one. Built-in chains are never declared (that would reset
 * their policy), so no other chain or rule is touched. Pure.
 */
export function restoreInput(chain: string, lines: string[], state: ChainState): string {
  const out = ['*filter', `:${chain} - [0:0]`, `-F ${chain}`, ...lines];
  const jumps = wantedJumps(state, lines);
  if (state.jumps < jumps) out.push(`-I INPUT 1 -j ${chain}`);
  for (let extra = state.jumps - jumps; extra > 0; extra -= 1) out.push(`-D INPUT -j ${chain}`);
  out.push('COMMIT', '');
  return out.join('\n');
}

/**
 * Re-reads the chain and, when it differs from the action's lines, replaces it in one atomic transaction; never
 * a chain holding a rule that is not ours.
 */
export async function syncChain(options: NativeOptions, action: SyncChainAction, log: Logger): Promise<ActionResult> {
  const state = await readChain(options, action.family);
  if (chainMatches(state, action.lines)) return { changed: false };
  // Checked again here: a foreign rule may have been added since the plan, and the restore would flush it.
  const foreign = foreignChainProblem(action.chain, action.family, state);
  if (foreign) throw new Error(foreign);
  const input = restoreInput(action.chain, action.lines, state);
  log.debug({ action: 'sync-chain', family: action.family, rules: action.lines.length }, 'iptables-restore --noflush');
  await runChecked([options.restore[action.family], '-w', '--noflush'], { prefix: options.prefix, input });
  const after = await readChain(options, action.family);
  if (!chainMatches(after, action.lines)) {
    throw new Error(
      `${options.restore[action.family]} succeeded but chain ${action.chain} (${action.family}) still differs from the intent: is another tool rewriting it?`,
    );
  }
  return { changed: true };
}
