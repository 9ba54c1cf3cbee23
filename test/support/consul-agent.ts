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

/** The ports one agent listens on, all on 127.0.0.1 (DNS and gRPC off). */
export interface ConsulPorts {
  http: number;
  serfLan: number;
  serfWan: number;
  server: number;
}

/** A free port for each of an agent's listeners. */
export async function freeConsulPorts(): Promise<ConsulPorts> {
  return { http: await freePort(), serfLan: await freePort(), serfWan: await freePort(), server: await freePort() };
}

/** `consul agent` arguments binding every listener to 127.0.0.1 on `ports`, with DNS and gRPC off. */
export function loopbackArgs(ports: ConsulPorts, dataDir: string): string[] {
  return [
    'agent',
    '-bind=127.0.0.1',
    '-client=127.0.0.1',
    `-http-port=${ports.http}`,
    '-dns-port=-1',
    '-grpc-port=-1',
    '-grpc-tls-port=-1',
    `-serf-lan-port=${ports.serfLan}`,
    `-serf-wan-port=${ports.serfWan}`,
    `-server-port=${ports.server}`,
    '-log-level=warn',
    `-data-dir=${dataDir}`,
  ];
}

/** One consul agent process that can be killed, stopped and started again with the same arguments (and data dir). */
export class ConsulProcess {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly bin: string,
    readonly args: string[],
  ) {}

  get pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few KB of what it printed, for an error message. */
  tail(): string {
    return this.output;
  }

  start(): void {
    if (this.running()) return;
    const child = spawn(this.bin, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: unknown) => {
      this.output = (this.output + String(d)).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.child = child;
  }

  /** Throws with its output when it has exited (for a wait loop). */
  assertAlive(what: string): void {
    if (this.child && !this.running()) throw new Error(`${what} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.output}`);
  }

  /** Sends `signal` and resolves once it is gone (SIGKILL: at once, like a crash; SIGTERM: a clean stop). */
  async signal(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const hard = signal === 'SIGTERM' ? setTimeout(() => child.kill('SIGKILL'), 20_000) : undefined;
    await exited;
    clearTimeout(hard);
  }
}

/** Consul's words when a port it was given is taken: another process probed the same free port meanwhile. */
const PORT_TAKEN = /address already in use|Failed to start TCP listener|failed to obtain an address|bind: /i;

/**
 * Runs `start` again (up to three times, with new ports) when Consul could not listen on a port it was given: a
 * probed port is only free until someone binds it, and parallel test files probe at the same time.
 */
export async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !PORT_TAKEN.test((err as Error).message)) throw err;
    }
  }
}

/** The leader's server address (`127.0.0.1:<server port>`) as the agent at `address` sees it; '' when there is none. */
export async function leaderSeenBy(address: string): Promise<string> {
  const res = await fetch(`http://${address}/v1/status/leader`, { signal: AbortSignal.timeout(5000) });
  return res.ok ? (await res.text()).replace(/"/g, '') : '';
}

/** Waits until the agent at `address` knows a leader (60 s, or throws with the agent's output). */
async function waitForLeader(address: string, agent: ConsulProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    agent.assertAlive(`consul at ${address}`);
    if ((await leaderSeenBy(address).catch(() => '')) !== '') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`consul at ${address} elected no leader within 60 s:\n${agent.tail()}`);
}

/**
 * Starts a real Consul agent bound to 127.0.0.1 on free ports (`-dev` unless `persistent`) and waits until it has a
 * leader; `options.extraArgs` are added to the command line (e.g. `-config-file=acl.hcl`).
 */
export async function startConsul(bin = consulBinary(), options: ConsulOptions = {}): Promise<RunningConsul> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pp-consul-'));
  const mode = options.persistent ? ['-server', '-bootstrap', '-hcl=performance { raft_multiplier = 1 }'] : ['-dev'];
  const { ports, agent } = await withFreshPorts(async () => {
    const ports = await freeConsulPorts();
    const agent = new ConsulProcess(bin, [...loopbackArgs(ports, dataDir), ...mode, ...(options.extraArgs ?? [])]);
    try {
      agent.start();
      await waitForLeader(`127.0.0.1:${ports.http}`, agent);
    } catch (err) {
      await agent.signal('SIGKILL');
      throw err;
    }
    return { ports, agent };
  });
  const address = `127.0.0.1:${ports.http}`;
  const launch = async () => {
    agent.start();
    await waitForLeader(address, agent);
  };
  return {
    address,
    httpPort: ports.http,
    stop: async () => {
      await agent.signal('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    },
    restart: async () => {
      await agent.signal('SIGKILL');
      await launch();
    },
    down: () => agent.signal('SIGKILL'),
    up: launch,
  };
}
