import { randomBytes } from 'node:crypto';
import { runChecked } from '../../../shared/process.js';

/** A network namespace of our own, so real iptables rules never reach the host's. */
export interface TestNetns {
  name: string;
  prefix: string[];
  /** Runs a shell command inside the namespace and returns its stdout. */
  sh(command: string): Promise<string>;
  remove(): Promise<void>;
}

/** Creates `pp-test-<random>` with lo up. */
export async function createNetns(): Promise<TestNetns> {
  const name = `pp-test-${randomBytes(4).toString('hex')}`;
  await runChecked(['ip', 'netns', 'add', name]);
  const prefix = ['ip', 'netns', 'exec', name];
  await runChecked(['ip', 'link', 'set', 'lo', 'up'], { prefix });
  return {
    name,
    prefix,
    sh: (command) => runChecked(['sh', '-c', command], { prefix }),
    remove: async () => {
      await runChecked(['ip', 'netns', 'delete', name]);
    },
  };
}

/** Foreign rules, chains and policies in filter and nat (IPv4) and filter (IPv6), set up with the plain CLI. */
export const FOREIGN_SETUP = [
  'iptables -P FORWARD DROP',
  'iptables -N FOREIGN',
  'iptables -A FOREIGN -p tcp --dport 22 -j ACCEPT',
  'iptables -A FOREIGN -s 10.0.0.0/8 -j RETURN',
  'iptables -N PLATYPUS2',
  'iptables -A PLATYPUS2 -p udp --dport 5353 -j DROP',
  'iptables -A INPUT -i lo -m comment --comment "loopback, not ours" -j ACCEPT',
  'iptables -A INPUT -m comment --comment "platypus:web" -p tcp --dport 9999 -j DROP',
  'iptables -A INPUT -j FOREIGN',
  'iptables -A OUTPUT -p tcp --dport 25 -j REJECT',
  'iptables -t nat -N FOREIGN_NAT',
  'iptables -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080',
  'iptables -t nat -A FOREIGN_NAT -p tcp --dport 443 -j RETURN',
  'ip6tables -N FOREIGN6',
  'ip6tables -A FOREIGN6 -p tcp --dport 22 -j ACCEPT',
  'ip6tables -A INPUT -m comment --comment "v6 foreign" -j FOREIGN6',
].join(' && ');

/** Everything iptables-save prints that is not ours, counters blanked, in order: must never change. */
export function foreignLines(save: string, chain = 'PLATYPUS'): string[] {
  return save
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .filter((l) => !l.startsWith(`:${chain} `) && !l.startsWith(`-A ${chain} `) && l !== `-A INPUT -j ${chain}`)
    .map((l) => l.replace(/\[\d+:\d+\]$/, '[*]'));
}

/** Our chain's rule lines, in order, from `iptables-save -t filter`. */
export function chainLines(save: string, chain = 'PLATYPUS'): string[] {
  return save.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
}

/** How many times INPUT jumps to our chain. */
export function jumpCount(save: string, chain = 'PLATYPUS'): number {
  return save.split('\n').filter((l) => l === `-A INPUT -j ${chain}`).length;
}

/** The canonical rule line we expect for `app` accepting `port/protocol`. */
export function rule(app: string, port: number, protocol = 'tcp', chain = 'PLATYPUS'): string {
  return `-A ${chain} -p ${protocol} -m ${protocol} --dport ${port} -m comment --comment "platypus:${app}" -j ACCEPT`;
}
