#!/usr/bin/env node
// Benchmark: install a ≥ 512 MB artifact from a loopback HTTP server with `pp-preparer --once` and with
// `curl -s URL | tar -xz` in the same run, and print both times, the throughput ratio and the preparer's
// peak RSS. Targets: ratio ≥ 0.9 of GNU tar's throughput (the preparer verifies and fsyncs, and may cost little
// more than the plain extraction), peak RSS ≤ 100 MB (it streams; an artifact is never held in memory).
// Then the same for an archive of 20,000 small files in 200 folders, against `tar -xzf` + `sync -f` (GNU tar
// does not sync; pp-preparer makes the tree durable before renaming it into place). Target: ratio ≥ 0.5.
// Usage: npm run build && npx tsc -p tsconfig.bench.json && node dist-bench/bench/preparer-bench.js [--size-mb 640] [--runs 3] [--dir /var/tmp] [--keep-files] [--shape big|many|both]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBin, flag, shebangNodeFlags } from './support.js';

const SIZE_MB = Number(flag('size-mb', '640'));
const RUNS = Number(flag('runs', '3'));
const ROOT = flag('dir', tmpdir());
const SHAPE = flag('shape', 'both');
/** The many-files shape: folders × files per folder, each file 200 to 2,000 bytes of hex text. */
const MANY_FOLDERS = 200;
const MANY_PER_FOLDER = 100;
const PREPARER = agentBin('preparer');
/** The node flags of the preparer's shebang: the bench runs it as the `pp-preparer` bin runs. */
const PREPARER_FLAGS = shebangNodeFlags(PREPARER);

/**
 * Writes the artifact's source tree: 60 % incompressible bytes in a few large files, 40 % hex text in
 * many 256 KB files, so gzip has real work both ways. Slices of one random pool keep generation fast;
 * they lie far beyond gzip's 32 KB window, so they still do not compress.
 */
async function writeTree(dir: string): Promise<void> {
  const pool = randomBytes(8 << 20);
  const slice = (n: number, len: number) =>
    pool.subarray((n * 7919 * 4096) % (pool.length - len), ((n * 7919 * 4096) % (pool.length - len)) + len);
  const randomMb = Math.round(SIZE_MB * 0.6);
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (let f = 0; f < randomMb / 32; f += 1) {
    const handle = await open(join(dir, 'bin', `blob-${f}.bin`), 'w');
    for (let m = 0; m < 32; m += 1) await handle.write(slice(f * 32 + m, 1 << 20));
    await handle.close();
  }
  const textFiles = ((SIZE_MB - randomMb) << 20) / (256 << 10);
  for (let f = 0; f < textFiles; f += 1) {
    const sub = join(dir, 'lib', `pkg-${f % 64}`);
    if (f < 64) await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `module-${f}.js`), slice(f + 100_000, 128 << 10).toString('hex'));
  }
}

/** Writes the many-files tree: MANY_FOLDERS folders of MANY_PER_FOLDER small text files. */
async function writeManyTree(dir: string): Promise<void> {
  const pool = randomBytes(1 << 20).toString('hex');
  for (let d = 0; d < MANY_FOLDERS; d += 1) {
    const sub = join(dir, `dir-${d}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < MANY_PER_FOLDER; f += 1) {
      const n = d * MANY_PER_FOLDER + f;
      const start = (n * 7919) % (pool.length - 2000);
      await writeFile(join(sub, `file-${f}.txt`), pool.slice(start, start + 200 + ((n * 37) % 1800)));
    }
  }
}

const TIME = existsSync('/usr/bin/time') ? ['/usr/bin/time', '-f', 'PEAK_RSS_KB=%M CPU_S=%U+%S'] : [];

interface Timed {
  seconds: number;
  /** User + system CPU seconds of the command and its children (GNU time), NaN without it. */
  cpu: number;
  /** Peak RSS of the command itself (for a shell pipeline: of its largest process), NaN without GNU time. */
  rssMb: number;
  stderr: string;
}

/** Runs argv under GNU time when present; returns wall time, CPU time and peak RSS; throws on a non-zero exit. */
function timed(command: string[]): Promise<Timed> {
  const argv = [...TIME, ...command];
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    child.on('error', fail);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = /CPU_S=([\d.]+)\+([\d.]+)/.exec(stderr);
      const rssMb = Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024;
      if (code === 0) done({ seconds, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN, rssMb, stderr });
      else fail(new Error(`${argv.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

function serve(file: string): Promise<Server> {
  const server = createServer((_req, res) => {
    void stat(file).then((info) => {
      res.writeHead(200, { 'content-length': info.size, 'content-type': 'application/gzip' });
      createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One preparer run: fresh store and basedir, `--once`; peak RSS from GNU time's %M. */
async function runPreparer(work: string, run: number, url: string, sha256: string, expect: string): Promise<Timed> {
  const base = join(work, `prep-${run}`);
  const store = join(work, `store-${run}`);
  const intent = { schema: 1, basedir: base, versions: [{ version: '1.0', url, sha256, state: 'prepared' }] };
  await mkdir(join(store, 'platypus/intent/bench'), { recursive: true });
  await writeFile(join(store, 'platypus/intent/bench/app'), JSON.stringify(intent));
  const result = await timed([
    'node',
    ...PREPARER_FLAGS,
    PREPARER,
    '--once',
    '--store',
    `folder:${store}`,
    '--node',
    'bench',
    '--log-level',
    'warn',
    '--progress',
    'off',
  ]);
  if (!existsSync(join(base, 'installs/app_1.0', expect))) throw new Error(`preparer run ${run} left no install: ${result.stderr}`);
  await rm(base, { recursive: true, force: true });
  await rm(store, { recursive: true, force: true });
  return result;
}

async function runTar(work: string, run: number, url: string): Promise<Timed> {
  const dir = join(work, `tar-${run}`);
  await mkdir(dir);
  const result = await timed(['sh', '-c', `curl -sf "${url}" | tar -xz -C "${dir}"`]);
  await rm(dir, { recursive: true, force: true });
  return result;
}

/** GNU tar extracting the artifact file, then `sync -f` (syncfs) on the folder: a durable extraction. */
async function runTarSync(work: string, run: number, artifact: string): Promise<Timed> {
  const dir = join(work, `tar-${run}`);
  await mkdir(dir);
  const result = await timed(['sh', '-c', `tar -xzf "${artifact}" -C "${dir}" && sync -f "${dir}"`]);
  await rm(dir, { recursive: true, force: true });
  return result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function report(size: number, tar: Timed[], prep: Timed[]): void {
  const [tarS, prepS] = [median(tar.map((t) => t.seconds)), median(prep.map((p) => p.seconds))];
  const [tarCpu, prepCpu] = [median(tar.map((t) => t.cpu)), median(prep.map((p) => p.cpu))];
  const mbps = (s: number) => (size / 2 ** 20 / s).toFixed(0);
  process.stdout.write(
    `${[
      `median curl|tar -xz: ${tarS.toFixed(2)} s wall (${mbps(tarS)} MB/s of artifact), ${tarCpu.toFixed(2)} s CPU (curl + tar + gzip)`,
      `median pp-preparer:  ${prepS.toFixed(2)} s wall (${mbps(prepS)} MB/s of artifact), ${prepCpu.toFixed(2)} s CPU (download + sha256 + gunzip + untar + fsync)`,
      `throughput ratio pp-preparer / GNU tar: ${(tarS / prepS).toFixed(2)} by wall time (target ≥ 0.90), ${(tarCpu / prepCpu).toFixed(2)} by CPU time`,
      `pp-preparer peak RSS: max ${Math.max(...prep.map((p) => p.rssMb)).toFixed(1)} MB over ${prep.length} runs (target ≤ 100 MB)`,
    ].join('\n')}\n`,
  );
}

/** The many-files shape: pp-preparer against `tar -xzf` + `sync -f`, alternating, RUNS times. */
async function benchManyFiles(work: string): Promise<void> {
  const files = MANY_FOLDERS * MANY_PER_FOLDER;
  process.stdout.write(`building ${files} small files in ${MANY_FOLDERS} folders and packing them with tar -czf in ${work} …\n`);
  await writeManyTree(join(work, 'many-src'));
  const artifact = join(work, 'many.tar.gz');
  await timed(['tar', '-C', join(work, 'many-src'), '-czf', artifact, '.']);
  await rm(join(work, 'many-src'), { recursive: true, force: true });
  const size = (await stat(artifact)).size;
  const server = await serve(artifact);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/many.tar.gz`;
  process.stdout.write(`many-files artifact: ${files} files, ${(size / 2 ** 20).toFixed(1)} MB compressed, served from ${url}\n`);
  const sha256 = await sha256Of(artifact);
  const tar: Timed[] = [];
  const prep: Timed[] = [];
  for (let run = 1; run <= RUNS; run += 1) {
    const order = run % 2 === 1 ? ['tar', 'prep'] : ['prep', 'tar'];
    for (const which of order) {
      if (which === 'tar') tar.push(await runTarSync(work, run, artifact));
      else prep.push(await runPreparer(work, run, url, sha256, `dir-${MANY_FOLDERS - 1}/file-${MANY_PER_FOLDER - 1}.txt`));
    }
    const t = tar[run - 1] as Timed;
    const p = prep[run - 1] as Timed;
    process.stdout.write(
      `many-files run ${run}: tar -xzf + sync -f ${t.seconds.toFixed(2)} s, pp-preparer ${p.seconds.toFixed(2)} s (cpu ${p.cpu.toFixed(2)} s, peak RSS ${p.rssMb.toFixed(1)} MB), ratio ${(t.seconds / p.seconds).toFixed(2)}\n`,
    );
  }
  server.close();
  const [tarS, prepS] = [median(tar.map((t) => t.seconds)), median(prep.map((p) => p.seconds))];
  process.stdout.write(
    `${[
      `many-files median tar -xzf + sync -f: ${tarS.toFixed(2)} s wall`,
      `many-files median pp-preparer: ${prepS.toFixed(2)} s wall`,
      `many-files ratio pp-preparer / (tar -xzf + sync -f): ${(tarS / prepS).toFixed(2)} by wall time (target ≥ 0.50)`,
      `many-files pp-preparer peak RSS: max ${Math.max(...prep.map((p) => p.rssMb)).toFixed(1)} MB over ${prep.length} runs (target ≤ 100 MB)`,
    ].join('\n')}\n`,
  );
}

async function benchBigArtifact(work: string): Promise<void> {
  process.stdout.write(`building a ${SIZE_MB} MB tree and compressing it with tar | gzip -1 in ${work} …\n`);
  await writeTree(join(work, 'src'));
  const artifact = join(work, 'artifact.tar.gz');
  await timed(['sh', '-c', `tar -C "${join(work, 'src')}" -cf - . | gzip -1 > "${artifact}"`]);
  await rm(join(work, 'src'), { recursive: true, force: true });
  const size = (await stat(artifact)).size;
  const sha256 = await sha256Of(artifact);
  const server = await serve(artifact);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/artifact.tar.gz`;
  process.stdout.write(`artifact: ${(size / 2 ** 20).toFixed(0)} MB compressed, served from ${url}\n`);
  const tar: Timed[] = [];
  const prep: Timed[] = [];
  for (let run = 1; run <= RUNS; run += 1) {
    // Alternate which goes first, so page-cache and writeback state favour neither.
    const order = run % 2 === 1 ? ['tar', 'prep'] : ['prep', 'tar'];
    for (const which of order) {
      if (which === 'tar') tar.push(await runTar(work, run, url));
      else prep.push(await runPreparer(work, run, url, sha256, 'bin/blob-0.bin'));
    }
    const t = tar[run - 1] as Timed;
    const p = prep[run - 1] as Timed;
    process.stdout.write(
      `run ${run}: curl|tar -xz ${t.seconds.toFixed(2)} s (cpu ${t.cpu.toFixed(2)} s), pp-preparer ${p.seconds.toFixed(2)} s (cpu ${p.cpu.toFixed(2)} s, peak RSS ${p.rssMb.toFixed(1)} MB)\n`,
    );
  }
  server.close();
  report(size, tar, prep);
}

async function main(): Promise<void> {
  if (!['big', 'many', 'both'].includes(SHAPE)) throw new Error(`--shape ${SHAPE}: expected big, many or both`);
  const work = await mkdtemp(join(ROOT, 'pp-preparer-bench-'));
  try {
    if (SHAPE !== 'many') await benchBigArtifact(work);
    if (SHAPE !== 'big') await benchManyFiles(work);
  } finally {
    if (!process.argv.includes('--keep-files')) await rm(work, { recursive: true, force: true });
  }
}

await main();
