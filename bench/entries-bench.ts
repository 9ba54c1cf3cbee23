#!/usr/bin/env node
// Benchmark: how long, and how much memory, pp-preparer takes to refuse an archive with too many entries.
// Builds a tar.gz of --entries one-byte files, runs `pp-preparer --once --max-entries N` on it (file:// URL)
// under GNU time and prints the wall time, the peak RSS and the refusal reality shows.
// Usage: npm run build && npx tsc -p tsconfig.bench.json && node dist-bench/bench/entries-bench.js [--entries 200000] [--max-entries 100000] [--dir /var/tmp]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBin, flag, shebangNodeFlags } from './support.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { createGzip } from 'node:zlib';
import { Header } from 'tar';

const ENTRIES = Number(flag('entries', '200000'));
const MAX_ENTRIES = Number(flag('max-entries', '100000'));
const ROOT = flag('dir', tmpdir());
const PREPARER = agentBin('preparer');
/** The node flags of the preparer's shebang: the bench runs it as the `pp-preparer` bin runs. */
const PREPARER_FLAGS = shebangNodeFlags(PREPARER);

/** `count` one-byte files spread over folders of 1000, as tar blocks. */
function* tarBlocks(count: number): Generator<Buffer> {
  const body = Buffer.alloc(512);
  body.write('x');
  for (let i = 0; i < count; i += 1) {
    const header = Buffer.alloc(512);
    new Header({ path: `d${Math.floor(i / 1000)}/f${i}`, mode: 0o644, size: 1, type: 'File', mtime: new Date(1_700_000_000_000) }).encode(
      header,
      0,
    );
    yield Buffer.concat([header, body]);
  }
  yield Buffer.alloc(1024);
}

function timed(argv: string[]): Promise<{ seconds: number; cpu: number; rssMb: number; code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M CPU_S=%U+%S', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    child.on('error', fail);
    child.on('close', (code) =>
      done({
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        cpu: Number(/CPU_S=([\d.]+)\+/.exec(stderr)?.[1]) + Number(/CPU_S=[\d.]+\+([\d.]+)/.exec(stderr)?.[1]),
        rssMb: Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024,
        code,
        stderr,
      }),
    );
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(ROOT, 'pp-entries-bench-'));
  try {
    const artifact = join(work, 'many.tar.gz');
    await pipeline(Readable.from(tarBlocks(ENTRIES)), createGzip(), createWriteStream(artifact));
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(artifact)) hash.update(chunk as Buffer);
    const store = join(work, 'store');
    const intent = {
      schema: 1,
      basedir: join(work, 'base'),
      versions: [{ version: '1', url: pathToFileURL(artifact).href, sha256: hash.digest('hex'), state: 'prepared' }],
    };
    await mkdir(join(store, 'platypus/intent/bench'), { recursive: true });
    await writeFile(join(store, 'platypus/intent/bench/many'), JSON.stringify(intent));
    const run = await timed([
      'node',
      ...PREPARER_FLAGS,
      ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
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
      '--max-entries',
      String(MAX_ENTRIES),
    ]);
    const reality = JSON.parse(await readFile(join(store, 'platypus/reality/bench/preparer/many'), 'utf8')) as { error?: string };
    if (process.env.BENCH_NODE_ARGS) process.stderr.write(run.stderr);
    process.stdout.write(
      `${ENTRIES} entries, --max-entries ${MAX_ENTRIES}: exit ${run.code} after ${run.seconds.toFixed(2)} s (${run.cpu.toFixed(2)} s CPU), peak RSS ${run.rssMb.toFixed(1)} MB\n${reality.error}\n`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
