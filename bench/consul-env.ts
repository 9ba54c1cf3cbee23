// A real Consul agent for the benchmarks, and pp-iptables' arguments: a network namespace of our own when
// we are root (native mode, real iptables), else port_authority mode into a folder.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startConsul, type RunningConsul } from '../test/support/consul-agent.js';
import { mustRun, timedRun } from './processes.js';
import { REPO, say } from './support.js';

/** The binary scripts/get-consul.sh finds (or builds once and caches). */
export function benchConsulBinary(): string {
  return execFileSync('bash', [join(REPO, 'scripts/get-consul.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** Starts `consul agent -dev` with benchConsulBinary(). */
export async function startBenchConsul(): Promise<RunningConsul> {
  return startConsul(benchConsulBinary());
}

export interface IptablesSetup {
  /** Extra pp-iptables flags. */
  args: string[];
  /** What the table says about the mode. */
  mode: string;
  cleanup(): Promise<void>;
}

/** Native mode inside a fresh netns when root and `ip`/`iptables-restore` work; else port_authority into `<root>/pa-<tag>`. */
export async function iptablesSetup(root: string, tag: string): Promise<IptablesSetup> {
  const ns = `pp-bench-${process.pid}-${tag}`;
  if (process.getuid?.() === 0 && (await timedRun(['ip', 'netns', 'add', ns])).code === 0) {
    if ((await timedRun(['ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'filter'])).code === 0) {
      return {
        args: ['--command-prefix', `ip netns exec ${ns}`],
        mode: 'native, netns',
        cleanup: async () => {
          await mustRun(['ip', 'netns', 'delete', ns]);
        },
      };
    }
    await timedRun(['ip', 'netns', 'delete', ns]);
  }
  say(`pp-iptables (${tag}): not root or no netns/iptables here; using port_authority mode`);
  return {
    args: ['--mode', 'port-authority', '--config-dir', join(root, `pa-${tag}`), '--refresh-command', 'true'],
    mode: 'port-authority',
    cleanup: async () => {},
  };
}
