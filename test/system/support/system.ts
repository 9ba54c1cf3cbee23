import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentNames } from '../../../shared/agent-list.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import type { RealityRecord } from '../../../shared/loop/types.js';
import { runChecked, runCommand } from '../../../shared/process.js';
import { freePort } from '../../support/free-port.js';
import { REPO } from '../../support/repo.js';
import { distProgram, runCli } from '../../support/run-cli.js';
import { inTurn, servicePid, startRunsvdir, stopEverythingUnder } from '../../support/runit.js';

export const AGENTS = agentNames();
/** An agent's name as agents/agents.json lists it, e.g. preparer. */
export type AgentName = string;

/** Every agent as a runit service of one runsvdir, the apps under another, iptables in a netns of its own. */
export interface System {
  root: string;
  prefix: string;
  node: string;
  netns: string;
  consulAddress: string;
  /** Each agent's --metrics-address (a free loopback port: install.sh's fixed ones may be taken here). */
  metrics: Record<AgentName, string>;
  /** `pp` with this system's store and prefix; throws unless it exits 0. */
  pp(args: string[], input?: string): Promise<string>;
  putIntent(app: string, intent: object): Promise<void>;
  /** Writes a raw value straight into Consul's KV, bypassing pp's validation. */
  putRaw(key: string, value: string): Promise<void>;
  getRaw(key: string): Promise<string | undefined>;
  reality(agent: AgentName, app: string): Promise<RealityRecord | undefined>;
  intentKey(app: string): string;
  drainedKey(): string;
  /** The pid runsv reports for an agent, or undefined while it is not running. */
  agentPid(agent: AgentName): Promise<number | undefined>;
  /** `iptables-save -t filter` inside the namespace. */
  rules(): Promise<string>;
  /** The last lines of every agent's log, for a failure message. */
  logs(lines?: number): Promise<string>;
  /** Every agent's log so far, as text (svlogd files). */
  log(agent: AgentName): Promise<string>;
  stop(): Promise<void>;
}

export interface SystemOptions {
  consulAddress: string;
  settleSeconds?: number;
  resyncSeconds?: number;
}

/** Writes the agents' runit folders with deploy/runit/install.sh, as an operator would, plus per-agent args. */
async function installAgents(
  root: string,
  netns: string,
  o: SystemOptions,
  prefix: string,
  node: string,
  metrics: Record<AgentName, string>,
): Promise<string> {
  const sv = join(root, 'sv');
  await runChecked([
    'sh',
    join(REPO, 'deploy/runit/install.sh'),
    sv,
    `PLATYPUS_STORE=consul://${o.consulAddress}`,
    `PLATYPUS_PREFIX=${prefix}`,
    `PLATYPUS_NODE=${node}`,
    `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
  ]);
  // debug: every pass logs "pass done", which the tests use to know a pass happened after a fault.
  const common = ['--resync-seconds', String(o.resyncSeconds ?? 2), '--wait-seconds', '5', '--log-level', 'debug'];
  // Agents not named here run with the common flags only.
  const own: Record<AgentName, string[]> = {
    preparer: ['--progress', 'off', '--download-timeout-seconds', '10'],
    iptables: ['--command-prefix', `ip netns exec ${netns}`],
    setlive: [
      '--service-dir',
      join(root, 'service'),
      '--stage-dir',
      join(root, 'stage'),
      '--settle-seconds',
      String(o.settleSeconds ?? 0.5),
      '--stop-timeout-seconds',
      '5',
      '--pickup-timeout-seconds',
      '20',
    ],
  };
  for (const agent of AGENTS) {
    await writeFile(join(sv, `pp-${agent}`, 'bin'), `${process.execPath} ${distProgram(`agents/${agent}/index.js`)}\n`);
    await writeFile(join(sv, `pp-${agent}`, 'args'), `${[...common, ...(own[agent] ?? [])].join('\n')}\n`);
    metrics[agent] = `127.0.0.1:${await freePort()}`;
    await writeFile(join(sv, `pp-${agent}`, 'env', 'PLATYPUS_METRICS_ADDRESS'), `${metrics[agent]}\n`);
  }
  return sv;
}

/** Starts the whole system on a fresh temp root: a netns with lo up, two runsvdirs, every agent linked in. */
export async function startSystem(o: SystemOptions): Promise<System> {
  const root = await mkdtemp(join(tmpdir(), 'pp-system-'));
  const prefix = `ppsys-${randomBytes(4).toString('hex')}`;
  const node = 'node1';
  const netns = `pp-sys-${randomBytes(4).toString('hex')}`;
  await runChecked(['ip', 'netns', 'add', netns]);
  await runChecked(['ip', 'link', 'set', 'lo', 'up'], { prefix: ['ip', 'netns', 'exec', netns] });
  for (const d of ['agents', 'service', 'stage']) await mkdir(join(root, d));
  const metrics: Record<AgentName, string> = {};
  const sv = await installAgents(root, netns, o, prefix, node, metrics);
  const agentsDir = await startRunsvdir(join(root, 'agents'));
  const appsDir = await startRunsvdir(join(root, 'service'));
  for (const agent of AGENTS) await symlink(join(sv, `pp-${agent}`), join(root, 'agents', `pp-${agent}`));
  const kv = (key: string) => `http://${o.consulAddress}/v1/kv/${key}`;
  const store = ['--store', `consul://${o.consulAddress}`, '--prefix', prefix];
  const logOf = (agent: AgentName) => readFile(join(sv, `pp-${agent}`, 'log', 'main', 'current'), 'utf8').catch(() => '');
  const system: System = {
    root,
    prefix,
    node,
    netns,
    consulAddress: o.consulAddress,
    metrics,
    pp: async (args, input) => {
      const r = await runCli('pp/index.js', [...args, ...store], input);
      if (r.code !== 0) throw new Error(`pp ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    putIntent: async (app, intent) => {
      await system.pp(['intent', 'put', node, app], JSON.stringify(intent));
    },
    putRaw: async (key, value) => {
      const res = await fetch(kv(key), { method: 'PUT', body: value });
      if (!res.ok) throw new Error(`consul PUT ${key}: ${res.status}`);
    },
    getRaw: async (key) => {
      const res = await fetch(`${kv(key)}?raw`);
      if (res.status === 404) return undefined;
      if (!res.ok) throw new Error(`consul GET ${key}: ${res.status}`);
      return res.text();
    },
    reality: async (agent, app) => {
      const raw = await system.getRaw(realityKey(prefix, node, agent, app)).catch(() => undefined);
      return raw === undefined ? undefined : (JSON.parse(raw) as RealityRecord);
    },
    intentKey: (app) => appIntentKey(prefix, node, app),
    drainedKey: () => drainedKey(prefix, node),
    agentPid: (agent) => servicePid(join(sv, `pp-${agent}`)),
    rules: () => runChecked(['iptables-save', '-t', 'filter'], { prefix: ['ip', 'netns', 'exec', netns] }),
    log: logOf,
    logs: async (lines = 15) => {
      let out = '';
      for (const agent of AGENTS) out += `--- pp-${agent}\n${(await logOf(agent)).split('\n').slice(-lines).join('\n')}\n`;
      return out;
    },
    // Agents first, so pp-setlive cannot link an app again while its service is taken down.
    stop: () =>
      inTurn([
        () => agentsDir.stop(),
        () => appsDir.stop(),
        () => stopEverythingUnder(root),
        () => runCommand(['ip', 'netns', 'delete', netns]),
        () => rm(root, { recursive: true, force: true, maxRetries: 5 }),
      ]),
  };
  return system;
}
