import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import type { RealityRecord } from '../../../shared/loop/types.js';
import { runCommand } from '../../../shared/process.js';
import { openStore } from '../../../shared/store/open-store.js';
import type { IntentStore } from '../../../shared/store/types.js';
import { freePort } from '../../support/free-port.js';
import { UNHEALTHY, versionOn, writeVersion } from '../../support/version-server.js';

/** The repository root, found from this file whether it runs from test/ (vitest) or from dist/ (the benchmarks). */
function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) && dir !== dirname(dir)) dir = dirname(dir);
  return dir;
}
const REPO = repoRoot();
const SETLIVE = join(REPO, 'dist/agents/setlive/index.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const APP = 'hello';

/** One simulated node: its own pp-setlive process, runsvdir, service and stage folders, basedir and app port. */
export interface FleetNode {
  name: string;
  root: string;
  basedir: string;
  port: number;
  agent?: ChildProcess;
  runsvdir: ChildProcess;
}

export interface VersionSpec {
  version: string;
  /** Its /health answers UNHEALTHY. */
  unhealthy?: boolean;
}

/**
 * N nodes on one machine, all against one store: each node's pp-setlive is a real process with its own node
 * name, runsvdir and folders; each app is the tiny version-server on a port of its own. Installs are laid out
 * by the test (no preparer), as pp-preparer would leave them.
 */
export class FlipFleet {
  readonly nodes: FleetNode[] = [];
  private constructor(
    readonly root: string,
    readonly storeSpec: string,
    readonly prefix: string,
    readonly store: IntentStore,
  ) {}

  static async start(storeSpec: string, prefix: string, count: number, versions: VersionSpec[]): Promise<FlipFleet> {
    const root = await mkdtemp(join(tmpdir(), 'pp-fleet-'));
    const fleet = new FlipFleet(root, storeSpec, prefix, await openStore(storeSpec));
    for (let i = 1; i <= count; i++) {
      const name = `web${i}`;
      const nodeRoot = join(root, name);
      for (const d of ['service', 'stage', 'logs']) await mkdir(join(nodeRoot, d), { recursive: true });
      const basedir = join(nodeRoot, 'apps', APP);
      for (const v of versions) {
        await writeVersion(join(basedir, 'installs', `${APP}_${v.version}`), v.version, v.unhealthy ? { health: UNHEALTHY } : {});
      }
      // The node's port comes from the environment of its runsvdir and agent, as a real fleet has one port for
      // all: every node's intent is then the same but for its basedir, as the verdicts' fingerprint expects.
      const port = await freePort();
      const runsvdir = spawn('runsvdir', ['-P', join(nodeRoot, 'service')], {
        stdio: 'ignore',
        env: { ...process.env, PORT: String(port) },
      });
      fleet.nodes.push({ name, root: nodeRoot, basedir, port, runsvdir });
    }
    return fleet;
  }

  /** Starts (or restarts) a node's pp-setlive; its log goes to <node>/logs/setlive.log. */
  startAgent(node: FleetNode): void {
    const args = [
      SETLIVE,
      '--store',
      this.storeSpec,
      '--prefix',
      this.prefix,
      '--node',
      node.name,
      '--service-dir',
      join(node.root, 'service'),
      '--stage-dir',
      join(node.root, 'stage'),
      '--settle-seconds',
      '0.3',
      '--stop-timeout-seconds',
      '5',
      '--pickup-timeout-seconds',
      '20',
      '--resync-seconds',
      '2',
      '--wait-seconds',
      '5',
      '--session-ttl-seconds',
      '10',
      '--log-level',
      'debug',
    ];
    const log = createWriteStream(join(node.root, 'logs', 'setlive.log'), { flags: 'a' });
    node.agent = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: String(node.port) } });
    node.agent.stdout!.pipe(log);
    node.agent.stderr!.pipe(log);
  }

  startAgents(): void {
    for (const n of this.nodes) this.startAgent(n);
  }

  async killAgent(node: FleetNode): Promise<void> {
    const child = node.agent;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** The app's intent on a node: `live` live, the others prepared; `rollout` as given. */
  intentOf(node: FleetNode, live: VersionSpec, others: VersionSpec[], rollout?: object): object {
    const entry = (v: VersionSpec, state: string) => ({
      version: v.version,
      url: `file:///nonexistent/${APP}-${v.version}.tar.gz`,
      sha256: (v.version.replace(/[^0-9a-f]/g, '') + 'a'.repeat(64)).slice(0, 64),
      state,
    });
    return {
      schema: 1,
      basedir: node.basedir,
      versions: [entry(live, 'live'), ...others.map((o) => entry(o, 'prepared'))],
      service: { command: [process.execPath, 'version-server.mjs'] },
      health: { command: ['sh', '-c', 'exec curl -sS --fail-with-body --max-time 3 "http://127.0.0.1:$PORT/health"'], timeoutMs: 10_000 },
      ...(rollout ? { rollout } : {}),
    };
  }

  /** Writes every node's intent in one transaction, as `pp` writes a fleet. */
  async writeAll(intentOf: (node: FleetNode) => object): Promise<void> {
    await this.store.transaction(
      this.nodes.map((n) => ({ key: appIntentKey(this.prefix, n.name, APP), value: JSON.stringify(intentOf(n)) })),
    );
  }

  async reality(node: FleetNode): Promise<RealityRecord | undefined> {
    const raw = await this.store.get(realityKey(this.prefix, node.name, 'setlive', APP)).catch(() => undefined);
    return raw === undefined ? undefined : (JSON.parse(raw) as RealityRecord);
  }

  /** What each node's app answers on GET / right now: its version, or an error. */
  answers(): Promise<string[]> {
    return Promise.all(this.nodes.map((n) => versionOn(n.port)));
  }

  /** The install a node's stage folder records as confirmed healthy (pp-confirmed). */
  async confirmed(node: FleetNode): Promise<string | undefined> {
    return (await readFile(join(node.root, 'stage', APP, 'pp-confirmed'), 'utf8').catch(() => undefined))?.trim();
  }

  installOf(node: FleetNode, version: string): string {
    return join(node.basedir, 'installs', `${APP}_${version}`);
  }

  async logs(lines = 12): Promise<string> {
    let out = '';
    for (const n of this.nodes) {
      const text = await readFile(join(n.root, 'logs', 'setlive.log'), 'utf8').catch(() => '');
      out += `--- ${n.name}\n${text.split('\n').slice(-lines).join('\n')}\n`;
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await this.killAgent(n);
    for (const n of this.nodes) {
      for (const name of await readdir(join(n.root, 'service')).catch(() => []))
        await unlink(join(n.root, 'service', name)).catch(() => {});
      const stage = join(n.root, 'stage', APP);
      await runCommand(['sv', '-w', '5', 'force-stop', stage]);
      await runCommand(['sv', 'exit', stage, join(stage, 'log')]);
      if (n.runsvdir.exitCode === null) {
        const exited = new Promise((r) => n.runsvdir.once('exit', r));
        n.runsvdir.kill('SIGHUP');
        await exited;
      }
    }
    await sleep(200);
    await this.store.close();
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * Samples every node about every 20 ms while a rollout runs: a node is "in a flip" while its app does not answer,
 * or answers `version` before its stage folder records that version confirmed. Keeps the largest count seen.
 */
export class FlipWatcher {
  maxInFlip = 0;
  samples = 0;
  /** Nodes ever seen not answering. */
  readonly everDown = new Set<string>();
  worst: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly fleet: FlipFleet,
    private readonly version: string,
    private readonly ignore: Set<string> = new Set(),
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const answers = await this.fleet.answers();
      const confirmed = await Promise.all(this.fleet.nodes.map((n) => this.fleet.confirmed(n)));
      const inFlip: string[] = [];
      this.fleet.nodes.forEach((n, i) => {
        if (this.ignore.has(n.name)) return;
        const a = answers[i]!;
        const down = a.startsWith('error ');
        if (down) this.everDown.add(n.name);
        if (down || (a === this.version && confirmed[i] !== this.fleet.installOf(n, this.version))) inFlip.push(`${n.name}:${a}`);
      });
      this.samples++;
      if (inFlip.length > this.maxInFlip) {
        this.maxInFlip = inFlip.length;
        this.worst = inFlip;
      }
      await sleep(20);
    }
  }

  ignoreNode(name: string): void {
    this.ignore.add(name);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Resolves once `cond` holds (checked every 100 ms), or throws after `ms` with `describe()`'s text. */
export async function until(what: string, cond: () => Promise<boolean>, describe: () => Promise<string>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await describe()}`);
    await sleep(100);
  }
}
