// Idle cost: every agent of agents/agents.json as a daemon against a real Consul, each through its own counting
// proxy, with one converged app; over an idle window: Consul requests, RSS (VmRSS) and CPU (utime+stime) of each agent.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentNames } from '../shared/agent-list.js';
import { startCountingProxy, type CountingProxy } from '../test/support/counting-proxy.js';
import { freePort } from '../test/support/free-port.js';
import { appIntent, askVersion, consulReality, makeArtifact, NODE } from './apps.js';
import { iptablesSetup, startBenchConsul } from './consul-env.js';
import { mustRun, procFigures, startDaemon, startRunsvdir, stopDaemon } from './processes.js';
import { agentBin, hasFlag, mb, sleep, say, verdict, waitUntil, type Row } from './support.js';

interface Watched {
  agent: string;
  child: ChildProcess;
  proxy: CountingProxy;
}

const AGENTS = agentNames();
/** Request paths the table breaks the count into. */
const KINDS: Record<string, string> = {
  'intent reads': '/v1/kv/platypus/intent',
  'reality (heartbeat included)': '/v1/kv/platypus/reality',
  txn: '/v1/txn',
  'check updates': '/v1/agent/check',
};

async function converged(consul: string, port: number): Promise<true | undefined> {
  for (const agent of AGENTS) if ((await consulReality(consul, agent, 'app'))?.status !== 'converged') return undefined;
  return (await askVersion(port)) === '1.0' ? true : undefined;
}

/** Samples every agent's RSS every 5 s over `seconds`; returns the largest VmRSS seen per agent. */
async function sampleWindow(agents: Watched[], seconds: number): Promise<Map<string, number>> {
  const peak = new Map<string, number>();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    for (const w of agents) peak.set(w.agent, Math.max(peak.get(w.agent) ?? 0, (await procFigures(w.child.pid!)).rssMb));
    await sleep(Math.min(5000, Math.max(0, end - Date.now())));
  }
  return peak;
}

async function measure(agents: Watched[], seconds: number, baseline: ChildProcess): Promise<Row[]> {
  const kindsOf = (w: Watched) => Object.fromEntries(Object.entries(KINDS).map(([k, path]) => [k, w.proxy.count(path)]));
  const before = await Promise.all(
    agents.map(async (w) => ({ count: w.proxy.count(), kinds: kindsOf(w), fig: await procFigures(w.child.pid!) })),
  );
  say(`idle: measuring for ${seconds} s`);
  const peak = await sampleWindow(agents, seconds);
  const bare = await procFigures(baseline.pid!);
  const rows: Row[] = [];
  for (const [i, w] of agents.entries()) {
    const after = await procFigures(w.child.pid!);
    const requests = w.proxy.count() - before[i]!.count;
    // The KV budget (watch + heartbeat) apart from the Consul check's refreshes, which go to the agent API.
    const checks = w.proxy.count(KINDS['check updates']) - before[i]!.kinds['check updates']!;
    const kv = requests - checks;
    const kinds = Object.entries(KINDS)
      .map(([k, path]) => `${k} ${w.proxy.count(path) - before[i]!.kinds[k]!}`)
      .join(', ');
    rows.push(
      {
        bench: `idle ${w.agent}`,
        metric: `Consul KV requests in ${seconds} s (per 5 min)`,
        value: `${kv} (${((kv * 300) / seconds).toFixed(1)})`,
        target: '≤ 2 per 5 min (watch + heartbeat)',
        verdict: verdict((kv * 300) / seconds, 2),
        baseline: kinds,
      },
      {
        bench: `idle ${w.agent}`,
        metric: `Consul check updates in ${seconds} s (per 5 min)`,
        value: `${checks} (${((checks * 300) / seconds).toFixed(1)})`,
        target: '≤ 1 per 5 min (TTL 900 s)',
        verdict: verdict((checks * 300) / seconds, 1),
      },
      {
        bench: `idle ${w.agent}`,
        metric: 'VmRSS at end (peak in window)',
        value: `${mb(after.rssMb)} (${mb(peak.get(w.agent) ?? NaN)})`,
        target: '≤ 60 MB',
        verdict: verdict(Math.max(after.rssMb, peak.get(w.agent) ?? 0), 60),
        baseline: `bare idle node: ${mb(bare.rssMb)}`,
      },
      { bench: `idle ${w.agent}`, metric: `CPU utime+stime in ${seconds} s`, value: `${(after.cpuS - before[i]!.fig.cpuS).toFixed(2)} s` },
    );
  }
  return rows;
}

/**
 * Runs the idle benchmark over a window of `seconds`; `nodeOptions` (NODE_OPTIONS of the agents) lets one try V8 flags;
 * `metrics` gives every agent a --metrics-address (to measure what prom-client costs an idle agent).
 */
export async function idleBench(seconds: number, settleSeconds: number, nodeOptions = '', metrics = false): Promise<Row[]> {
  const root = await mkdtemp(join(tmpdir(), 'pp-bench-idle-'));
  const consul = await startBenchConsul();
  const runit = await startRunsvdir(root);
  const ipt = await iptablesSetup(root, 'idle');
  const agents: Watched[] = [];
  const baseline = startDaemon([process.execPath, '-e', 'setInterval(() => {}, 1e9)'], join(root, 'baseline.log'));
  try {
    const port = await freePort();
    const v1 = await makeArtifact(root, 'app', '1.0');
    await writeFile(join(root, 'spec.json'), JSON.stringify(appIntent(join(root, 'apps/app'), port, v1, [])));
    await mustRun([
      process.execPath,
      agentBin('pp'),
      'intent',
      'put',
      NODE,
      'app',
      '--file',
      join(root, 'spec.json'),
      '--store',
      `consul://${consul.address}`,
    ]);
    // Agents not named here need no flags of their own.
    const extra: Record<string, string[]> = {
      preparer: ['--progress', 'off'],
      iptables: ipt.args,
      setlive: ['--service-dir', runit.serviceDir, '--stage-dir', runit.stageDir],
    };
    for (const agent of AGENTS) {
      const proxy = await startCountingProxy(consul.address);
      const argv = [
        process.execPath,
        agentBin(agent),
        '--store',
        `consul://${proxy.address}`,
        '--node',
        NODE,
        '--log-level',
        'warn',
        ...(extra[agent] ?? []),
        ...(metrics ? ['--metrics-address', `127.0.0.1:${await freePort()}`] : []),
      ];
      agents.push({
        agent,
        proxy,
        child: startDaemon(argv, join(root, `${agent}.log`), nodeOptions ? { ...process.env, NODE_OPTIONS: nodeOptions } : process.env),
      });
    }
    await waitUntil('every agent to converge one app', 120_000, () => converged(consul.address, port), 250);
    // Settle past one resync (60 s): the preparer reports `current`, which pp-setlive sets after it, so its
    // reality changes once more at its next resync; that write belongs to converging, not to idling.
    say(`idle: converged (pp-iptables ${ipt.mode}); letting it settle ${settleSeconds} s`);
    await sleep(settleSeconds * 1000);
    const rows = await measure(agents, seconds, baseline);
    const tag = [nodeOptions && `NODE_OPTIONS=${nodeOptions}`, metrics && '--metrics-address'].filter(Boolean).join(', ');
    return tag ? rows.map((r) => ({ ...r, bench: `${r.bench} [${tag}]` })) : rows;
  } finally {
    for (const w of agents) {
      await stopDaemon(w.child);
      await w.proxy.close();
    }
    await stopDaemon(baseline);
    await runit.stop();
    await ipt.cleanup();
    await consul.stop();
    if (hasFlag('keep-files')) say(`idle: logs kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}
