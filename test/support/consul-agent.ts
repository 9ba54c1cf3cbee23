import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './free-port.js';

export interface RunningConsul {
  /** host:port of the HTTP API on 127.0.0.1. */
  address: string;
  httpPort: number;
  stop(): Promise<void>;
  /** Kills and restarts the agent on the same ports (dev mode keeps nothing: the KV comes back empty). */
  restart(): Promise<void>;
  /** SIGKILLs the agent, leaving it down until `up`. */
  down(): Promise<void>;
  /** Starts it again on the same ports and data folder, and waits for a leader. */
  up(): Promise<void>;
}

export interface ConsulOptions {
  /**
   * A single server that keeps its data folder (`-server -bootstrap`) instead of `-dev`, whose KV lives in
   * memory: for tests that stop Consul and need the KV and sessions back.
   */
  persistent?: boolean;
  /** Added to the command line, e.g. `-config-file=acl.hcl`. */
  extraArgs?: string[];
}

/** The consul binary from scripts/get-consul.sh (CONSUL_BIN, PATH, or a cached build from the Go module proxy). */
export function consulBinary(): string {
  const script = resolve(import.meta.dirname, '../../scripts/get-consul.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

async function waitForLeader(address: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`consul exited ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`http://${address}/v1/status/leader`);
      const leader = (await res.text()).replace(/"/g, '');
      if (res.ok && leader !== '') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`consul at ${address} elected no leader within 60 s:\n${output()}`);
}

/**
 * Starts a real Consul agent bound to 127.0.0.1 on free ports (`-dev` unless `persistent`) and waits until it has a
 * leader; `options.extraArgs` are added to the command line (e.g. `-config-file=acl.hcl`).
 */
export async function startConsul(bin = consulBinary(), options: ConsulOptions = {}): Promise<RunningConsul> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pp-consul-'));
  const [http, serfLan, serfWan, server] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const args = [
    'agent',
    ...(options.persistent ? ['-server', '-bootstrap', '-hcl=performance { raft_multiplier = 1 }'] : ['-dev']),
    '-bind=127.0.0.1',
    '-client=127.0.0.1',
    `-http-port=${http}`,
    '-dns-port=-1',
    '-grpc-port=-1',
    '-grpc-tls-port=-1',
    `-serf-lan-port=${serfLan}`,
    `-serf-wan-port=${serfWan}`,
    `-server-port=${server}`,
    '-log-level=warn',
    `-data-dir=${dataDir}`,
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess;
  let output = '';
  const launch = async () => {
    child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d) => {
      output = (output + String(d)).slice(-4000);
    });
    child.stderr?.on('data', (d) => {
      output = (output + String(d)).slice(-4000);
    });
    await waitForLeader(`127.0.0.1:${http}`, child, () => output);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    address: `127.0.0.1:${http}`,
    httpPort: http,
    stop: async () => {
      await kill();
      await rm(dataDir, { recursive: true, force: true });
    },
    restart: async () => {
      await kill();
      await launch();
    },
    down: kill,
    up: launch,
  };
}
