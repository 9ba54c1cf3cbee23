// Flip latency: from `pp intent put` of a version flip (both versions installed beforehand by pp-preparer --once)
// to the service answering the new version on 127.0.0.1, with pp-setlive as a daemon on the folder store under a
// real runsvdir. The service's own start time is measured apart by starting it directly N times.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/free-port.js';
import { appIntent, askVersion, folderReality, makeArtifact, NODE, type Artifact } from './apps.js';
import { flipTimeline, type FlipTimes } from './flip-timeline.js';
import { mustRun, startDaemon, startRunsvdir, stopDaemon } from './processes.js';
import { agentBin, ms, percentile, say, sleep, verdict, waitUntil, type Row } from './support.js';

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
    const child = spawn(process.execPath, ['version-server.mjs'], { cwd: installDir, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
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

/** One flip: put the spec, wait for the answer, then for pp-setlive to report it converged (so flips never overlap). */
async function flip(store: string, specFile: string, port: number, version: string): Promise<FlipTimes> {
  const put = Date.now();
  const answered = awaitAnswer(port, version, 30_000);
  await mustRun([process.execPath, agentBin('pp'), 'intent', 'put', NODE, 'app', '--file', specFile, '--store', `folder:${store}`]);
  const written = Date.now();
  const times = { put, written, answered: await answered };
  await waitUntil(`pp-setlive to report ${version} converged`, 30_000, async () => {
    const r = await folderReality(store, 'setlive', 'app');
    return r?.status === 'converged' && r.version === version ? true : undefined;
  }, 20);
  await sleep(700); // the watcher waits 250–500 ms between two reads; start each flip with it blocked in a watch
  return times;
}

function rows(flips: FlipTimes[], starts: number[], timeline: string): Row[] {
  const total = flips.map((f) => f.answered - f.put);
  const agentSide = flips.map((f) => f.answered - f.written);
  const start50 = percentile(starts, 50);
  const excl = total.map((t) => t - start50);
  const p = (xs: number[]) => `p50 ${ms(percentile(xs, 50))}, p99 ${ms(percentile(xs, 99))}`;
  return [
    { bench: 'flip latency', metric: `pp intent put → new version answers (${flips.length} flips)`, value: p(total) },
    { bench: 'flip latency', metric: 'service start alone (exec → first answer)', value: p(starts), baseline: `${starts.length} direct starts` },
    { bench: 'flip latency', metric: 'flip excluding service start (total − start p50)', value: p(excl),
      target: '≤ 100 ms p50', verdict: verdict(percentile(excl, 50), 100) },
    { bench: 'flip latency', metric: 'intent written → answers (without the pp CLI)', value: p(agentSide),
      baseline: `minus start p50: ${ms(percentile(agentSide, 50) - start50)}` },
    { bench: 'flip latency', metric: 'median steps (setlive debug log)', value: timeline },
  ];
}

/** Runs `count` flips between two prepared versions and `starts` direct service starts. */
export async function flipBench(count: number, starts: number): Promise<Row[]> {
  const root = await mkdtemp(join(tmpdir(), 'pp-bench-flip-'));
  const store = join(root, 'store');
  const runit = await startRunsvdir(root);
  let setlive: ReturnType<typeof startDaemon> | undefined;
  try {
    const port = await freePort();
    const basedir = join(root, 'apps/app');
    const [v1, v2] = [await makeArtifact(root, 'app', '1.0'), await makeArtifact(root, 'app', '2.0')] as [Artifact, Artifact];
    const specs = [[v1, v2], [v2, v1]].map(([live, other], i) => ({ version: live!.version, file: join(root, `spec-${i}.json`), text: JSON.stringify(appIntent(basedir, port, live, [other!])) }));
    for (const s of specs) await writeFile(s.file, s.text);
    await mustRun([process.execPath, agentBin('pp'), 'intent', 'put', NODE, 'app', '--file', specs[0]!.file, '--store', `folder:${store}`]);
    await mustRun([process.execPath, agentBin('preparer'), '--once', '--store', `folder:${store}`, '--node', NODE, '--progress', 'off', '--log-level', 'warn']);
    const log = join(root, 'setlive.log');
    setlive = startDaemon([process.execPath, agentBin('setlive'), '--store', `folder:${store}`, '--node', NODE, '--log-level', 'debug',
      '--service-dir', runit.serviceDir, '--stage-dir', runit.stageDir], log);
    await awaitAnswer(port, '1.0', 60_000);
    await waitUntil('pp-setlive to converge 1.0', 30_000, async () => ((await folderReality(store, 'setlive', 'app'))?.status === 'converged' ? true : undefined));
    await sleep(1000);
    say(`flip: ${count} flips between 1.0 and 2.0 on port ${port}`);
    const flips: FlipTimes[] = [];
    for (let i = 1; i <= count; i += 1) flips.push(await flip(store, specs[i % 2]!.file, port, specs[i % 2]!.version));
    say(`flip: ${starts} direct starts of the service`);
    const startTimes = await serviceStarts(join(basedir, 'installs/app_1.0'), '1.0', starts);
    return rows(flips, startTimes, await flipTimeline(log, flips));
  } finally {
    if (setlive) await stopDaemon(setlive);
    await runit.stop();
    await rm(root, { recursive: true, force: true });
  }
}
