import type { Logger } from 'pino';
import { runChecked, runCommand } from '../../shared/process.js';
import type { Family, NativeObserved } from './plan.js';
import { parseFilterTable, type ChainState } from './rules.js';

/** The host-facing settings of native mode: binaries, command prefix, chain, families. */
export interface NativeOptions {
  chain: string;
  families: Family[];
  /** Path of iptables, run once at start to log its version and backend. */
  iptables?: string;
  save: Record<Family, string>;
  restore: Record<Family, string>;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  prefix: string[];
}

/** Reads our chain in one family with `iptables-save -t filter` (or ip6tables-save); throws when it cannot. */
export async function readChain(options: NativeOptions, family: Family): Promise<ChainState> {
  const out = await runChecked([options.save[family], '-t', 'filter'], { prefix: options.prefix });
  return parseFilterTable(out, options.chain);
}

/**
 * Observes every enabled family's chain. Never throws: a family that
 * cannot be read carries the error, so the plan reports it for every app and the daemon keeps running.
 */
export async function observeNative(options: NativeOptions): Promise<NativeObserved> {
  const families: NativeObserved['families'] = [];
  for (const family of options.families) {
    try {
      families.push({ family, state: await readChain(options, family) });
    } catch (err) {
      const error = `cannot read the ${family} filter table: ${(err as Error).message}`;
      families.push({ family, state: { exists: false, rules: [], jumps: 0 }, error });
    }
  }
  return { chain: options.chain, families };
}

/** Logs which iptables (and backend) we drive, so a missing binary shows up before the first pass. */
export async function logIptablesVersion(options: NativeOptions, log: Logger): Promise<void> {
  if (!options.iptables) return;
  const result = await runCommand([options.iptables, '--version'], { prefix: options.prefix }).catch((err: Error) => ({
    exitCode: -1,
    stdout: '',
    stderr: err.message,
  }));
  if (result.exitCode === 0) log.info({ action: 'start', iptables: result.stdout.trim() }, 'iptables found');
  else log.warn({ action: 'start', err: result.stderr.trim() }, `cannot run ${options.iptables} --version`);
}
