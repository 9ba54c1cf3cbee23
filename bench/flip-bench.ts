// Flip latency: the intent of an app whose two versions are installed (by pp-preparer --once) is switched
// between them, and we time until the service answers the new version on 127.0.0.1; pp-setlive runs as a
// daemon under a real runsvdir, on the folder store and on a real Consul agent. The bench writes the intent
// itself (one store put, timed to the ms), and times the `pp intent put` process apart, beside bare node; the
// service's own start is measured apart by starting it directly.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunsvStatus } from '../agents/setlive/runsv-status.js';
import { openStore } from '../shared/store/open-store.js';
import type { IntentStore } from '../shared/store/types.js';
import { freePort } from '../test/support/free-port.js';
import {
  appIntent,
  askVersion,
  consulReality,
  folderReality,
  intentKey,
  makeArtifact,
  NODE,
  type Artifact,
  type RealityRecord,
} from './apps.js';
import { startBenchConsul } from './consul-env.js';
import { timeCli } from './flip-cli.js';
import { flipTimeline, type FlipTimes } from './flip-timeline.js';
import { mustRun, startDaemon, startRunsvdir, stopDaemon } from './processes.js';
import { flipRows } from './flip-rows.js';
import { agentBin, say, sleep, waitUntil, type Row } from './support.js';

/** Polls the app every 2 ms until it answers `version`; returns the epoch ms of the first such answer. */
async function awaitAnswer(port: number, version: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await askVersion(port)) === version) return Date.now();
    await sleep(2);
  }
  throw new Error(`the app on port ${port} did not answer ${version} within ${timeoutMs} ms`);
}

/** Time from spawning the service's program directly (as its run script execs it) to its first answer, `n` times. */
async function serviceStarts(installDir: string, version: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const port = await freePort();
    const started = Date.now();
    const child = spawn(process.execPath, ['version-server.mjs'], {
      cwd: installDir,
      env: { ...process.env, PORT: String(port) },
      stdio: 'ignore',
    });
    try {
      times.push((await awaitAnswer(port, version, 10_000)) - started);
    } finally {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  }
  return times;
}

interface Target {
  store: IntentStore;
  /** The --store flag of the agents. */
  flag: string;
  reality(app: string): Promise<RealityRecord | undefined>;
  close(): Promise<void>;
}

async function openTarget(kind: 'folder' | 'consul', root: string): Promise<Target> {
  if (kind === 'folder') {
    const flag = `folder:${join(root, 'store')}`;
    const store = await openStore(flag);
    return { store, flag, reality: (app) => folderReality(join(root, 'store'), 'setlive', app), close: () => store.close() };
  }
  const consul = await startBenchConsul();
  const flag = `consul://${consul.address}`;
  const store = await openStore(flag);
  return {
    store,
    flag,
    reality: (app) => consulReality(consul.address, 'setlive', app),
    close: async () => {
      await store.close();
      await consul.stop();
    },
  };
}

/**
 * One flip: write the intent, wait for the answer, read when runsv forked the new process (its status
 * record, ns resolution), then wait for pp-setlive to report it converged (so flips never overlap).
 */
async function flip(t: Target, spec: { text: string; version: string }, port: number, serviceDir: string): Promise<FlipTimes> {
  const answered = awaitAnswer(port, spec.version, 30_000);
  const put = Date.now();
  await t.store.put(intentKey('app'), spec.text);
  const written = Date.now();
  const times = { put, written, answered: await answered, forked: NaN };
  const status = await readRunsvStatus(serviceDir);
  if (status.state !== 'run' || status.sinceMs === undefined) throw new Error(`after the answer, runsv says ${status.text}`);
  times.forked = status.sinceMs;
  await waitUntil(
    `pp-setlive to report ${spec.version} converged`,
    30_000,
    async () => {
      const r = await t.reality('app');
      return r?.status === 'converged' && r.version === spec.version ? true : undefined;
    },
    20,
  );
  await sleep(700); // the watcher waits 250–500 ms between two reads; start each flip with it blocked in a watch
  return times;
}

/** Runs `count` flips between two prepared versions on one store kind, `starts` direct service starts and `cliRuns` CLI timings. */
export async function flipBench(kind: 'folder' | 'consul', count: number, starts: number, cliRuns: number): Promise<Row[]> {
  const root = await mkdtemp(join(tmpdir(), `pp-bench-flip-${kind}-`));
  const runit = await startRunsvdir(root);
  const t = await openTarget(kind, root);
  let setlive: ReturnType<typeof startDaemon> | undefined;
  try {
    const port = await freePort();
    const basedir = join(root, 'apps/app');
    const [v1, v2] = [await makeArtifact(root, 'app', '1.0'), await makeArtifact(root, 'app', '2.0')] as [Artifact, Artifact];
    const specs = [
      [v1, v2],
      [v2, v1],
    ]
      .map(([live, other]) => ({ version: live!.version, spec: appIntent(basedir, port, live, [other!]) }))
      .map((s) => ({ ...s, text: JSON.stringify(s.spec) }));
    await t.store.put(intentKey('app'), specs[0]!.text);
    await mustRun([
      process.execPath,
      agentBin('preparer'),
      '--once',
      '--store',
      t.flag,
      '--node',
      NODE,
      '--progress',
      'off',
      '--log-level',
      'warn',
    ]);
    const log = join(root, 'setlive.log');
    setlive = startDaemon(
      [
        process.execPath,
        agentBin('setlive'),
        '--store',
        t.flag,
        '--node',
        NODE,
        '--log-level',
        'debug',
        '--service-dir',
        runit.serviceDir,
        '--stage-dir',
        runit.stageDir,
      ],
      log,
    );
    await awaitAnswer(port, '1.0', 60_000);
    await waitUntil('pp-setlive to converge 1.0', 30_000, async () =>
      (await t.reality('app'))?.status === 'converged' ? true : undefined,
    );
    await sleep(1000);
    say(`flip (${kind}): ${count} flips between 1.0 and 2.0 on port ${port}`);
    const flips: FlipTimes[] = [];
    for (let i = 1; i <= count; i += 1) flips.push(await flip(t, specs[i % 2]!, port, join(runit.stageDir, 'app')));
    say(`flip (${kind}): ${starts} direct starts of the service, ${cliRuns} runs of pp intent put and of bare node`);
    const startTimes = await serviceStarts(join(basedir, 'installs/app_1.0'), '1.0', starts);
    const cli = await timeCli(root, t.flag, specs[0]!.spec, cliRuns);
    return flipRows(kind, flips, startTimes, cli, await flipTimeline(log, flips));
  } finally {
    if (setlive) await stopDaemon(setlive);
    await runit.stop();
    await t.close();
    await rm(root, { recursive: true, force: true });
  }
}
