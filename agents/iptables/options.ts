import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { defineFlags, type FlagValues } from '../../shared/cli/flags.js';
import type { NativeOptions } from './observe.js';
import type { Family } from './plan.js';
import type { PaOptions } from './port-authority/observe.js';
import { chainProblem } from './rules.js';

/** The default config folder of port_authority mode: $PLATYPUS_ROOT/port-authority, else ~/.platypus/port-authority. */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.PLATYPUS_ROOT ? resolve(env.PLATYPUS_ROOT) : join(homedir(), '.platypus'), 'port-authority');
}

/** Splits a command given as one flag ("ip netns exec ns1") into argv; empty gives []. */
export function splitCommand(text: string): string[] {
  return text.split(' ').filter((part) => part !== '');
}

/** The flags pp-iptables adds to the shared ones. */
export function iptablesFlags(env: NodeJS.ProcessEnv = process.env) {
  return defineFlags({
    mode: {
      type: 'string',
      choices: ['native', 'port-authority'],
      default: 'native',
      describe: 'native: own iptables chain; port-authority: YAML files + refresh command',
    },
    chain: { type: 'string', default: 'PLATYPUS', describe: 'native: our chain in the filter table, jumped to from INPUT' },
    ipv6: { type: 'boolean', default: false, describe: 'native: also converge the same chain with ip6tables' },
    iptables: { type: 'string', default: 'iptables', describe: 'path of iptables (its version is logged at start)' },
    'iptables-save': { type: 'string', default: 'iptables-save', describe: 'path of iptables-save' },
    'iptables-restore': { type: 'string', default: 'iptables-restore', describe: 'path of iptables-restore' },
    'ip6tables-save': { type: 'string', default: 'ip6tables-save', describe: 'path of ip6tables-save (with --ipv6)' },
    'ip6tables-restore': { type: 'string', default: 'ip6tables-restore', describe: 'path of ip6tables-restore (with --ipv6)' },
    'command-prefix': {
      type: 'string',
      default: '',
      describe: 'prefix for every external command, split on spaces, e.g. "ip netns exec ns1"',
    },
    'config-dir': { type: 'string', default: defaultConfigDir(env), describe: 'port-authority: folder of the per-app YAML files' },
    'refresh-command': {
      type: 'string',
      default: 'port_authority',
      describe: 'port-authority: run as "<command> rebuild" after files changed (split on spaces)',
    },
  });
}

/** Throws an Error naming the flag when a pp-iptables flag's value is unusable. */
export function checkIptablesFlags(args: FlagValues<ReturnType<typeof iptablesFlags>>): void {
  const problem = chainProblem(args.chain);
  if (problem) throw new Error(`--chain ${JSON.stringify(args.chain)}: ${problem}`);
  if (splitCommand(args['refresh-command']).length === 0) throw new Error('--refresh-command must not be empty');
}

/** The families native mode converges: IPv4 always, IPv6 with --ipv6. */
export function familiesOf(ipv6: boolean): Family[] {
  return ipv6 ? ['ipv4', 'ipv6'] : ['ipv4'];
}

/** What pp-iptables runs as: native mode (our chain) or port_authority mode (files + refresh), with its options. */
export type IptablesOptions = { mode: 'native'; native: NativeOptions } | { mode: 'port-authority'; portAuthority: PaOptions };

/** Turns parsed flags into the agent's options. */
export function iptablesOptions(args: FlagValues<ReturnType<typeof iptablesFlags>>): IptablesOptions {
  const prefix = splitCommand(args['command-prefix']);
  if (args.mode === 'port-authority') {
    return {
      mode: 'port-authority',
      portAuthority: { configDir: args['config-dir'], refresh: splitCommand(args['refresh-command']), prefix },
    };
  }
  return {
    mode: 'native',
    native: {
      chain: args.chain,
      families: familiesOf(args.ipv6),
      iptables: args.iptables,
      save: { ipv4: args['iptables-save'], ipv6: args['ip6tables-save'] },
      restore: { ipv4: args['iptables-restore'], ipv6: args['ip6tables-restore'] },
      prefix,
    },
  };
}
