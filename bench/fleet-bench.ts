// A fleet on one machine: simulated nodes (each a real pp-preparer process with its own --node and basedir) against
// a real 3-server Consul cluster through a client agent, as on a real fleet (a counting proxy in front of the client
// agent counts what the node agents ask; each of their requests is one RPC the client forwards to a server).
// - converge: one write changing every node's intent (transactions of ≤ 64 operations, as pp writes) to each node's
//   reality reporting the change converged (from the record's own `at`), p50/p99 per node and the last node; CPU
//   seconds of each node's pass (/proc); beside it, the same change on one node alone with the rest idle;
// - idle: with as many nodes as fit (up to --fleet-idle-nodes), the requests per node per second over an idle window
//   beside the blocking-query floor (one per --wait-seconds), the RSS of one idle agent and of each Consul agent.
import { freemem } from 'node:os';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RealityRecord } from '../shared/reality/record.js';
import { consulConfigFrom } from '../shared/store/consul-config.js';
import { ConsulStore } from '../shared/store/consul-store.js';
import { startConsulCluster, type ConsulCluster } from '../test/support/consul-cluster.js';
import { startCountingProxy, type CountingProxy } from '../test/support/counting-proxy.js';
import { fleetReality, preparedExactly, preparedIntent, putFleetIntent, startNodeAgent, type NodeAgent } from '../test/support/fleet.js';
import { makeArtifact, type Artifact } from './apps.js';
import { benchConsulBinary } from './consul-env.js';
import { procFigures, startDaemon, stopDaemon } from './processes.js';
import { agentBin, hasFlag, mb, ms, percentile, say, shebangNodeFlags, sleep, verdict, waitUntil, type Row } from './support.js';
import { intentPrefix } from '../shared/keys.js';

const PREFIX = 'platypus';
const APP = 'app';
/** The agents' blocking-query wait (their default): an idle agent's floor is one request per wait. */
const WAIT_SECONDS = 300;
/** What one more idle pp-preparer is budgeted in memory when deciding how many fit (measured ~57 MB, plus margin). */
const NODE_BUDGET_MB = 80;
/** Memory left to everything else on the machine (other work, the Consul agents, the page cache). */
const RESERVE_MB = 6144;
/** How long the cluster is watched with no node at all, for the idle baseline. */
const BASELINE_SECONDS = 30;

interface Fleet {
  root: string;
  cluster: ConsulCluster;
  proxy: CountingProxy;
  store: ConsulStore;
  agents: Map<string, NodeAgent>;
  basedir(node: string): string;
}

const nodeName = (i: number) => `n${String(i).padStart(3, '0')}`;

/** Starts agents for `nodes` whose intent holds `versions`; resolves once each reports them converged. */
async function addNodes(fleet: Fleet, nodes: string[], versions: Artifact[]): Promise<void> {
  await putFleetIntent(
    fleet.store,
    PREFIX,
    nodes.map((node) => ({ node, app: APP, intent: preparedIntent(fleet.basedir(node), versions) })),
  );
  const program = agentBin('preparer');
  const nodeArgs = shebangNodeFlags(program);
  for (const node of nodes) {
    fleet.agents.set(
      node,
      startNodeAgent({
        node,
        store: `consul://${fleet.proxy.address}`,
        prefix: PREFIX,
        logDir: join(fleet.root, 'logs'),
        program,
        nodeArgs,
        args: ['--log-level', 'warn', '--wait-seconds', String(WAIT_SECONDS)],
      }),
    );
  }
  await convergedAt(fleet, nodes, versions, 300_000);
}

/** Waits until every node of `nodes` reports `versions` converged; resolves with each record's time (ms). */
async function convergedAt(fleet: Fleet, nodes: string[], versions: Artifact[], timeoutMs: number): Promise<Map<string, number>> {
  const wanted = versions.map((v) => v.version);
  return waitUntil(
    `${nodes.length} nodes to report ${wanted.join(', ')} prepared`,
    timeoutMs,
    async () => {
      const reality = await fleetReality(fleet.cluster.address, PREFIX).catch(() => undefined);
      const records = nodes.map((n) => reality?.get(n)?.get(`preparer/${APP}`));
      for (const [i, n] of nodes.entries()) {
        const agent = fleet.agents.get(n);
        if (agent && !agent.alive()) throw new Error(`node ${n}'s agent exited:\n${(await agent.log()).slice(-2000)}`);
        if (!preparedExactly(records[i], wanted)) return undefined;
      }
      return new Map(nodes.map((n, i) => [n, Date.parse((records[i] as RealityRecord).at)]));
    },
    // Latencies come from the records' own `at`, so polling more often would only add load on Consul.
    500,
  );
}

/** CPU seconds (utime+stime) of each node's agent. */
async function cpuOf(fleet: Fleet, nodes: string[]): Promise<number[]> {
  return Promise.all(nodes.map(async (n) => (await procFigures(fleet.agents.get(n)!.child.pid!)).cpuS));
}

/** One intent change on `nodes`; resolves with each node's latency from the write's commit, the write's own time and CPU. */
async function change(fleet: Fleet, nodes: string[], versions: Artifact[]) {
  const cpuBefore = await cpuOf(fleet, nodes);
  const items = nodes.map((node) => ({ node, app: APP, intent: preparedIntent(fleet.basedir(node), versions) }));
  const started = Date.now();
  const committed = await putFleetIntent(fleet.store, PREFIX, items);
  const written = Math.max(...committed.values());
  const at = await convergedAt(fleet, nodes, versions, 120_000);
  // The pass's own CPU: let each agent finish the reality write that reported it.
  await sleep(1000);
  const cpuAfter = await cpuOf(fleet, nodes);
  // Each node from the commit of the transaction that changed its intent.
  const latencies = nodes.map((n) => at.get(n)! - committed.get(n)!);
  const total = Math.max(...nodes.map((n) => at.get(n)!)) - Math.min(...committed.values());
  const transactions = new Set(committed.values()).size;
  return { latencies, total, writeMs: written - started, transactions, cpu: cpuAfter.map((c, i) => c - cpuBefore[i]!) };
}

async function consulFigures(cluster: ConsulCluster) {
  return Promise.all([...cluster.servers, cluster.client].map(async (m) => ({ name: m.name, ...(await procFigures(m.pid()!)) })));
}

/** Runs the fleet benchmark: `nodes` converging `rounds` changes, then up to `idleNodes` idle for `idleSeconds`. */
export async function fleetBench(nodes: number, rounds: number, idleNodes: number, idleSeconds: number): Promise<Row[]> {
  const root = await mkdtemp(join(tmpdir(), 'pp-bench-fleet-'));
  await mkdir(join(root, 'logs'));
  const cluster = await startConsulCluster(benchConsulBinary());
  const proxy = await startCountingProxy(cluster.address);
  const fleet: Fleet = {
    root,
    cluster,
    proxy,
    store: new ConsulStore(consulConfigFrom(cluster.address, {})),
    agents: new Map(),
    basedir: (node) => join(root, 'nodes', node, APP),
  };
  const bare = startDaemon([process.execPath, '-e', 'setInterval(() => {}, 1e9)'], join(root, 'bare.log'));
  const rows: Row[] = [];
  try {
    const artifacts: Artifact[] = [];
    for (let v = 1; v <= rounds + 1; v++) artifacts.push(await makeArtifact(root, APP, `${v}.0`));
    // The baseline of the idle figures: the cluster alone, before any node runs.
    const emptyBefore = await consulFigures(cluster);
    await sleep(BASELINE_SECONDS * 1000);
    const emptyCpu = (await consulFigures(cluster)).map((f, i) => (f.cpuS - emptyBefore[i]!.cpuS) / BASELINE_SECONDS);
    const names = Array.from({ length: nodes }, (_, i) => nodeName(i + 1));
    say(`fleet: 3 servers + a client agent up; starting ${nodes} nodes and one solo node`);
    await addNodes(fleet, [...names, 'solo'], artifacts.slice(0, 1));

    // The baseline: the same kind of change on one node while the fleet idles.
    const solo: number[] = [];
    const soloCpu: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const c = await change(fleet, ['solo'], artifacts.slice(0, r + 1));
      solo.push(...c.latencies);
      soloCpu.push(...c.cpu);
    }
    const latencies: number[] = [];
    const totals: number[] = [];
    const cpu: number[] = [];
    const consulCpuPerChange: number[] = [];
    let writeMs = 0;
    let transactions = 0;
    for (let r = 1; r <= rounds; r++) {
      const before = await consulFigures(cluster);
      const c = await change(fleet, names, artifacts.slice(0, r + 1));
      const after = await consulFigures(cluster);
      consulCpuPerChange.push(after.reduce((s, f, i) => s + f.cpuS - before[i]!.cpuS, 0));
      latencies.push(...c.latencies);
      totals.push(c.total);
      cpu.push(...c.cpu);
      writeMs = Math.max(writeMs, c.writeMs);
      transactions = c.transactions;
      say(`fleet: round ${r}: last of ${nodes} nodes converged ${ms(c.total)} after the write's first commit`);
    }
    const meanCpu = cpu.reduce((a, b) => a + b, 0) / cpu.length;
    const consulCpu = consulCpuPerChange.reduce((a, b) => a + b, 0) / consulCpuPerChange.length;
    rows.push(
      {
        bench: `fleet ${nodes} nodes`,
        metric: `write to each node's reality converged, p50 / p99 (${rounds} changes)`,
        value: `${ms(percentile(latencies, 50))} / ${ms(percentile(latencies, 99))}`,
        baseline: `one node alone: ${ms(percentile(solo, 50))} / ${ms(percentile(solo, 99))}`,
      },
      {
        bench: `fleet ${nodes} nodes`,
        metric: "the write's first commit to the last node converged (worst change)",
        value: ms(Math.max(...totals)),
        target: '≤ 2000 ms',
        verdict: verdict(Math.max(...totals), 2000),
        baseline: `each change: ${totals.map(ms).join(', ')}; the write itself: ${transactions} transaction(s) of ≤ 64 ops in ≤ ${ms(writeMs)}`,
      },
      {
        bench: `fleet ${nodes} nodes`,
        metric: 'CPU of one node pass, mean / p99 (floor it sets on 2 cores)',
        value: `${meanCpu.toFixed(3)} s / ${percentile(cpu, 99).toFixed(3)} s (${((meanCpu * nodes) / 2).toFixed(2)} s)`,
        baseline: `one node alone: ${(soloCpu.reduce((a, b) => a + b, 0) / soloCpu.length).toFixed(3)} s`,
      },
      {
        bench: `fleet ${nodes} nodes`,
        metric: 'CPU of the 4 Consul agents per fleet change (per node)',
        value: `${consulCpu.toFixed(2)} s (${((consulCpu / nodes) * 1000).toFixed(1)} ms)`,
      },
    );

    // Idle at scale: as many nodes as memory allows, up to idleNodes.
    const fit = Math.floor((freemem() / 2 ** 20 - RESERVE_MB) / NODE_BUDGET_MB) + fleet.agents.size;
    const total = Math.max(fleet.agents.size, Math.min(idleNodes, fit));
    if (total < idleNodes) say(`fleet: only ${total} nodes fit in free memory (${mb(freemem() / 2 ** 20)}); not ${idleNodes}`);
    const more = Array.from({ length: total - fleet.agents.size }, (_, i) => nodeName(nodes + i + 1));
    say(`fleet: starting ${more.length} more nodes (${total} in all)`);
    for (let i = 0; i < more.length; i += 25) await addNodes(fleet, more.slice(i, i + 25), artifacts.slice(0, 1));
    // Let every agent's first blocking query start from the index it last saw.
    await sleep(15_000);
    const consulBefore = await consulFigures(cluster);
    const requestsBefore = proxy.count();
    const kvBefore = proxy.count(`/v1/kv/${intentPrefix(PREFIX)}`);
    say(`fleet: ${total} nodes idle; measuring for ${idleSeconds} s`);
    await sleep(idleSeconds * 1000);
    const requests = proxy.count() - requestsBefore;
    const intentReads = proxy.count(`/v1/kv/${intentPrefix(PREFIX)}`) - kvBefore;
    const consulAfter = await consulFigures(cluster);
    const perNodePerS = requests / total / idleSeconds;
    const floor = 1 / WAIT_SECONDS;
    const rss = (await Promise.all([...fleet.agents.values()].map(async (a) => (await procFigures(a.child.pid!)).rssMb))).sort(
      (a, b) => a - b,
    );
    const bareRss = (await procFigures(bare.pid!)).rssMb;
    rows.push(
      {
        bench: `fleet ${total} nodes idle`,
        metric: `requests to Consul per node per second (${requests} in ${idleSeconds} s; intent reads ${intentReads})`,
        value: perNodePerS.toFixed(5),
        target: `≤ ${(floor * 1.25).toFixed(5)} (the floor + 25%)`,
        verdict: verdict(perNodePerS, floor * 1.25),
        baseline: `blocking-query floor: 1 per ${WAIT_SECONDS} s = ${floor.toFixed(5)}`,
      },
      {
        bench: `fleet ${total} nodes idle`,
        metric: 'VmRSS of one idle agent, median / max',
        value: `${mb(percentile(rss, 50))} / ${mb(rss.at(-1)!)}`,
        target: '≤ 60 MB',
        verdict: verdict(percentile(rss, 50), 60),
        baseline: `bare idle node: ${mb(bareRss)}`,
      },
      ...consulAfter.map((f, i) => ({
        bench: `fleet ${total} nodes idle`,
        metric: `consul ${f.name}: VmRSS; CPU in the window`,
        value: `${mb(f.rssMb)}; ${(f.cpuS - consulBefore[i]!.cpuS).toFixed(2)} s`,
        baseline: `no nodes: ${mb(emptyBefore[i]!.rssMb)}; ${(emptyCpu[i]! * idleSeconds).toFixed(2)} s`,
      })),
    );
    return rows;
  } finally {
    say('fleet: stopping');
    await Promise.all([...fleet.agents.values()].map((a) => a.stop()));
    await stopDaemon(bare);
    await fleet.store.close();
    await proxy.close();
    await cluster.stop();
    if (hasFlag('keep-files')) say(`fleet: files kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}
