import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { agentNames } from '../../../shared/agent-list.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import type { RealityRecord } from '../../../shared/loop/types.js';
import { runChecked, runCommand } from '../../../shared/process.js';
import { freePort } from '../../support/free-port.js';
import { distProgram, runCli } from '../../support/run-cli.js';

const REPO = resolve(import.meta.dirname, '../../..');
export const AGENTS = agentNames();
/** An agent's name as agents/agents.json lists it, e.g. preparer. */
export type AgentName = string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

async function runsvGone(dir: string): Promise<boolean> {
  const r = await runCommand(['sv', 'status', dir]);
  return /runsv not running|unable to change to service directory|unable to open supervise/.test(r.stdout + r.stderr);
}

/** Brings every runsv under `dirs` down and out, then waits until none is left. */
async function exitServices(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    await runCommand(['sv', '-w', '10', 'force-stop', dir]);
    await runCommand(['sv', 'exit', dir, join(dir, 'log')]);
  }
  for (const dir of dirs) {
    for (let i = 0; i < 50 && !(await runsvGone(dir)); i++) await sleep(200);
  }
}

async function stopRunsvdir(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGHUP'); // runsvdir sends TERM to every runsv it still watches (none by now) and exits
  await exited;
}

function spawnRunsvdir(dir: string): ChildProcess {
  return spawn('runsvdir', ['-P', dir], { stdio: 'ignore' });
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
  const agentsDir = spawnRunsvdir(join(root, 'agents'));
  const appsDir = spawnRunsvdir(join(root, 'service'));
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
    agentPid: async (agent) => {
      const r = await runCommand(['sv', 'status', join(sv, `pp-${agent}`)]);
      const m = /^run: [^:]+: \(pid (\d+)\)/.exec(r.stdout);
      return m ? Number(m[1]) : undefined;
    },
    rules: () => runChecked(['iptables-save', '-t', 'filter'], { prefix: ['ip', 'netns', 'exec', netns] }),
    log: logOf,
    logs: async (lines = 15) => {
      let out = '';
      for (const agent of AGENTS) out += `--- pp-${agent}\n${(await logOf(agent)).split('\n').slice(-lines).join('\n')}\n`;
      return out;
    },
    stop: async () => {
      // Agents first, so pp-setlive cannot re-link an app while its service is taken down.
      for (const agent of AGENTS) await unlink(join(root, 'agents', `pp-${agent}`)).catch(() => {});
      await exitServices(AGENTS.map((a) => join(sv, `pp-${a}`)));
      for (const name of await readdir(join(root, 'service')).catch(() => [])) await unlink(join(root, 'service', name)).catch(() => {});
      const apps = (await readdir(join(root, 'stage')).catch(() => [])).filter((n) => !n.startsWith('.'));
      await exitServices(apps.map((a) => join(root, 'stage', a)));
      await stopRunsvdir(agentsDir);
      await stopRunsvdir(appsDir);
      await runCommand(['ip', 'netns', 'delete', netns]);
      await rm(root, { recursive: true, force: true });
    },
  };
  return system;
}
