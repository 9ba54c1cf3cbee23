import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realityKey } from '../../../shared/keys.js';
import type { RealityRecord } from '../../../shared/loop/types.js';
import { runCommand } from '../../../shared/process.js';
import { openStore } from '../../../shared/store/open-store.js';
import type { IntentStore } from '../../../shared/store/types.js';
import { freePort } from '../../support/free-port.js';
import { distProgram } from '../../support/run-cli.js';
import { buildArtifact, UNHEALTHY, versionOn, type Artifact } from '../../support/version-server.js';

export const APP = 'hello';

/** One simulated node: its pp-preparer and pp-setlive, its runsvdir, its own folder mounted at the fleet's basedir. */
export interface DeployNode {
  name: string;
  root: string;
  port: number;
  runsvdir: ChildProcess;
  agents: ChildProcess[];
}

/**
 * N nodes on one machine whose intent is the same for all, as on a real fleet: every node's processes run in a
 * mount namespace of their own where the node's folder is bind-mounted at one common path, the app's basedir.
 * pp-preparer fetches real file:// artifacts and pp-setlive runs them under the node's runsvdir; each node's app
 * listens on a port of its own, given to its runsvdir as PORT (the spec's health check reads $PORT).
 */
export class DeployFleet {
  readonly nodes: DeployNode[] = [];
  readonly basedir: string;
  private constructor(
    readonly root: string,
    readonly storeSpec: string,
    readonly prefix: string,
    readonly store: IntentStore,
  ) {
    this.basedir = join(root, 'srv', APP);
  }

  static async start(storeSpec: string, prefix: string, count: number): Promise<DeployFleet> {
    const root = await mkdtemp(join(tmpdir(), 'pp-deploy-fleet-'));
    const fleet = new DeployFleet(root, storeSpec, prefix, await openStore(storeSpec));
    await mkdir(join(root, 'srv'), { recursive: true });
    for (let i = 1; i <= count; i++) {
      const name = `web${i}`;
      const nodeRoot = join(root, name);
      for (const d of ['service', 'stage', 'logs', 'srv']) await mkdir(join(nodeRoot, d), { recursive: true });
      const port = await freePort();
      const node: DeployNode = { name, root: nodeRoot, port, runsvdir: undefined as unknown as ChildProcess, agents: [] };
      node.runsvdir = fleet.inNode(node, ['runsvdir', '-P', join(nodeRoot, 'service')], 'runsvdir');
      fleet.nodes.push(node);
    }
    return fleet;
  }

  /** Runs `argv` in a new mount namespace where the node's srv folder is the fleet's srv folder. */
  private inNode(node: DeployNode, argv: string[], logName: string): ChildProcess {
    const script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"';
    const child = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', join(node.root, 'srv'), join(this.root, 'srv'), ...argv],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PORT: String(node.port) },
      },
    );
    const log = createWriteStream(join(node.root, 'logs', `${logName}.log`), { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    return child;
  }

  private agentArgs(node: DeployNode, agent: string): string[] {
    const common = [
      '--store',
      this.storeSpec,
      '--prefix',
      this.prefix,
      '--node',
      node.name,
      '--resync-seconds',
      '2',
      '--wait-seconds',
      '5',
    ];
    if (agent === 'preparer') return [...common, '--progress', 'off', '--log-level', 'debug'];
    return [
      ...common,
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
      '--session-ttl-seconds',
      '10',
      '--log-level',
      'debug',
    ];
  }

  /** Starts every node's pp-preparer and pp-setlive, each with `extra` flags too (e.g. --trusted-signers FILE). */
  startAgents(extra: string[] = []): void {
    for (const node of this.nodes)
      for (const agent of ['preparer', 'setlive'])
        node.agents.push(
          this.inNode(node, [process.execPath, distProgram(`agents/${agent}/index.js`), ...this.agentArgs(node, agent), ...extra], agent),
        );
  }

  /** A real artifact of the app at `version`, broken everywhere (its /health answers UNHEALTHY) when told. */
  artifact(version: string, options: { unhealthy?: boolean } = {}): Promise<Artifact> {
    return buildArtifact(join(this.root, 'artifacts'), APP, version, options.unhealthy ? { health: UNHEALTHY } : {});
  }

  /** The spec deployed: `artifact` live, the fleet's basedir, version-server as the service, its /health via curl. */
  async writeSpec(
    name: string,
    artifact: Artifact,
    rollout: object = { maxParallel: 2, minHealthySeconds: 1, maxFailures: 1 },
  ): Promise<string> {
    const spec = {
      schema: 1,
      basedir: this.basedir,
      versions: [{ version: artifact.version, url: artifact.url, sha256: artifact.sha256, state: 'live' }],
      service: { command: [process.execPath, 'version-server.mjs'] },
      health: { command: ['sh', '-c', 'exec curl -sS --fail-with-body --max-time 3 "http://127.0.0.1:$PORT/health"'], timeoutMs: 8000 },
      rollout,
    };
    const path = join(this.root, name);
    await writeFile(path, `${JSON.stringify(spec, null, 2)}\n`);
    return path;
  }

  async reality(node: DeployNode, agent = 'setlive'): Promise<RealityRecord | undefined> {
    const raw = await this.store.get(realityKey(this.prefix, node.name, agent, APP)).catch(() => undefined);
    return raw === undefined ? undefined : (JSON.parse(raw) as RealityRecord);
  }

  answers(): Promise<string[]> {
    return Promise.all(this.nodes.map((n) => versionOn(n.port)));
  }

  async logs(lines = 10): Promise<string> {
    let out = '';
    for (const n of this.nodes)
      for (const agent of ['preparer', 'setlive']) {
        const text = await readFile(join(n.root, 'logs', `${agent}.log`), 'utf8').catch(() => '');
        out += `--- ${n.name} ${agent}\n${text.split('\n').slice(-lines).join('\n')}\n`;
      }
    return out;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes)
      for (const child of n.agents) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
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
    await this.store.close();
    // runsv may still be writing supervise/ as it exits after sv exit: rm tries again on ENOTEMPTY.
    await rm(this.root, { recursive: true, force: true, maxRetries: 5 });
  }
}
