// A real Consul cluster on loopback: three servers (`-bootstrap-expect 3`, each with a data dir of its own so it
// restarts with its Raft state) and one client agent joined to them, the agent node agents talk to as they would
// on a host of a real fleet. Any member can be SIGKILLed, stopped and started again; the leader is found by asking
// GET /v1/status/leader.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  consulBinary,
  ConsulProcess,
  freeConsulPorts,
  leaderSeenBy,
  loopbackArgs,
  withFreshPorts,
  type ConsulPorts,
} from './consul-agent.js';

/** raft_multiplier 1 (Consul's production setting; the default of 5 suits small VMs) elects a new leader in a few seconds. */
const PERFORMANCE = 'performance { raft_multiplier = 1 }';
/** Consul's default of 200 HTTP connections per client IP would refuse a fleet whose agents all share 127.0.0.1. */
const LIMITS = 'limits { http_max_conns_per_client = 10000 }';

export interface ConsulMember {
  name: string;
  server: boolean;
  /** host:port of its HTTP API. */
  address: string;
  /** host:port of its server (Raft) port: what /v1/status/leader names. */
  serverAddress: string;
  ports: ConsulPorts;
  process: ConsulProcess;
  running(): boolean;
  pid(): number | undefined;
  /** SIGKILL: gone at once, as in a crash (a server keeps its place in the Raft configuration). */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop (a server does not leave the cluster; the client leaves and rejoins on start). */
  stop(): Promise<void>;
  /** Starts it again with its data dir; resolves once its HTTP API answers. */
  start(): Promise<void>;
}

export interface ConsulCluster {
  servers: ConsulMember[];
  client: ConsulMember;
  /** The client agent's HTTP address: what node agents use. */
  address: string;
  /** The member that is leader, as the running members see it; undefined while there is none. */
  leader(): Promise<ConsulMember | undefined>;
  /** Waits until a leader is elected (and KV reads through the client work); resolves with it. */
  waitForLeader(timeoutMs?: number): Promise<ConsulMember>;
  /** The members' output, for a failure message. */
  logs(): string;
  stop(): Promise<void>;
}

async function waitForHttp(member: ConsulMember, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    member.process.assertAlive(`consul ${member.name}`);
    const res = await fetch(`http://${member.address}/v1/agent/self`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (res?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`consul ${member.name} did not answer on ${member.address} within ${timeoutMs} ms:\n${member.process.tail()}`);
}

function member(name: string, server: boolean, ports: ConsulPorts, process: ConsulProcess): ConsulMember {
  const m: ConsulMember = {
    name,
    server,
    address: `127.0.0.1:${ports.http}`,
    serverAddress: `127.0.0.1:${ports.server}`,
    ports,
    process,
    running: () => process.running(),
    pid: () => process.pid,
    kill: () => process.signal('SIGKILL'),
    stop: () => process.signal('SIGTERM'),
    start: async () => {
      process.start();
      await waitForHttp(m);
    },
  };
  return m;
}

/** Starts three servers and a client on free loopback ports and waits for a leader and a working KV through the client. */
export function startConsulCluster(bin = consulBinary()): Promise<ConsulCluster> {
  return withFreshPorts(() => startClusterOnce(bin));
}

async function startClusterOnce(bin: string): Promise<ConsulCluster> {
  const root = await mkdtemp(join(tmpdir(), 'pp-consul-cluster-'));
  const ports = [await freeConsulPorts(), await freeConsulPorts(), await freeConsulPorts(), await freeConsulPorts()];
  const joins = ports.slice(0, 3).map((p) => `-retry-join=127.0.0.1:${p.serfLan}`);
  const members: ConsulMember[] = [];
  for (const [i, p] of ports.entries()) {
    const server = i < 3;
    const name = server ? `server${i + 1}` : 'client';
    const dataDir = join(root, name);
    await mkdir(dataDir);
    const args = [
      ...loopbackArgs(p, dataDir),
      `-node=${name}`,
      ...(server ? ['-server', '-bootstrap-expect=3'] : []),
      ...joins,
      '-retry-interval=1s',
      '-hcl',
      PERFORMANCE,
      '-hcl',
      LIMITS,
    ];
    members.push(member(name, server, p, new ConsulProcess(bin, args)));
  }
  const servers = members.slice(0, 3);
  const client = members[3]!;
  const cluster: ConsulCluster = {
    servers,
    client,
    address: client.address,
    leader: async () => {
      for (const m of members.filter((x) => x.running())) {
        const seen = await leaderSeenBy(m.address).catch(() => '');
        if (seen !== '') return servers.find((s) => s.serverAddress === seen);
      }
      return undefined;
    },
    waitForLeader: async (timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const leader = await cluster.leader();
        // The leader known and the KV answering through the client (a 404 for a key nobody writes): usable.
        const kv = leader && (await fetch(`http://${client.address}/v1/kv/pp-cluster-probe`).catch(() => undefined));
        if (leader?.running() && kv?.status === 404) return leader;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`the cluster elected no leader within ${timeoutMs} ms:\n${cluster.logs()}`);
    },
    logs: () => members.map((m) => `--- consul ${m.name}\n${m.process.tail()}`).join('\n'),
    stop: async () => {
      for (const m of members) await m.kill();
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    for (const m of members) m.process.start();
    for (const m of members) await waitForHttp(m);
    await cluster.waitForLeader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
