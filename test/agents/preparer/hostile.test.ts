import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { gunzipSync } from 'node:zlib';
import type { ReadEntry } from 'tar';
import { ExtractSink } from '../../../agents/preparer/extract-sink.js';
import { parseSize, PREPARER_FLAGS } from '../../../agents/preparer/options.js';
import { SafeTree } from '../../../agents/preparer/safe-tree.js';
import { TreeWriter } from '../../../agents/preparer/tree-writer.js';
import type { PreparerOptions } from '../../../agents/preparer/types.js';
import { exitCodeOf } from '../../../shared/loop/run-agent.js';
import { eventually } from '../../support/intent-fixtures.js';
import { manyFiles, multiMemberBomb, singleMemberBomb, startHostileServer, type HostileServer } from './hostile-server.js';
import { FolderStore, listInstalls, makeArtifact, putIntent, reality, runOnce, sha256, tempDir, version } from './support.js';

let dir: string;
let server: HostileServer;
let good: Awaited<ReturnType<typeof makeArtifact>>;
let big: Awaited<ReturnType<typeof makeArtifact>>;
let bomb: Buffer;
let bomb64: Buffer;

/** pp-preparer's defaults for the limits a bomb runs into. */
const DEFAULT_LIMITS: Partial<PreparerOptions> = {
  maxBytes: parseSize(PREPARER_FLAGS['max-bytes'].default),
  maxRatio: PREPARER_FLAGS['max-ratio'].default,
  maxDownloadBytes: parseSize(PREPARER_FLAGS['max-download-bytes'].default),
};

beforeAll(async () => {
  dir = await tempDir('hostile');
  good = await makeArtifact(dir, 'good', { 'bin/run': 'ok\n' });
  // Base64 of random bytes: gzip gets it to about 3/4, so the artifact stays near 2 MB.
  big = await makeArtifact(dir, 'big', { 'blob.txt': randomBytes(2 << 20).toString('base64') });
  bomb = multiMemberBomb(2);
  bomb64 = await singleMemberBomb(64);
  server = await startHostileServer({
    '/good.tar.gz': { kind: 'bytes', body: good.bytes },
    '/padded.tar.gz': { kind: 'padded', body: good.bytes },
    '/drip.tar.gz': { kind: 'drip', body: good.bytes, everyMs: 2000 },
    '/big.tar.gz': { kind: 'bytes', body: big.bytes },
    '/bomb.tar.gz': { kind: 'bytes', body: bomb },
    '/bomb64.tar.gz': { kind: 'bytes', body: bomb64 },
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Installs `url` as app `name` in one pass of the real agent, expects it refused, leaving nothing behind (no
 * install, no record, no temp folder), and returns reality's error.
 */
async function refuse(name: string, url: string, digest: string, options: Partial<PreparerOptions> = {}, size?: number): Promise<string> {
  const store = new FolderStore(join(dir, name, 'store'));
  const base = join(dir, name, 'base');
  await putIntent(store, name, base, [version('1', url, digest, 'prepared', size)]);
  expect(exitCodeOf(await runOnce(store, options))).toBe(1);
  const r = await reality(store, name);
  expect(r?.status).toBe('failed');
  expect(await listInstalls(base)).toEqual([]);
  return r?.error ?? '';
}

/** Installs `url` as app `name` in one pass and expects it to succeed. */
async function install(name: string, url: string, digest: string, options: Partial<PreparerOptions> = {}, size?: number): Promise<string> {
  const store = new FolderStore(join(dir, name, 'store'));
  const base = join(dir, name, 'base');
  await putIntent(store, name, base, [version('1', url, digest, 'prepared', size)]);
  expect(exitCodeOf(await runOnce(store, options))).toBe(0);
  expect(await listInstalls(base)).toEqual([`.pp-install-${name}_1.json`, `${name}_1`]);
  return join(base, 'installs', `${name}_1`);
}

const closed = (path: string) =>
  eventually(() => server.served(path).every((s) => s.closed), 5000, `the server to see every download of ${path} stop`);

describe('pp-preparer bounds what a download may cost', () => {
  it('stops reading a valid gzip followed by endless NUL bytes (no Content-Length) a MiB after the gzip data ends', async () => {
    const error = await refuse('padded', server.url('/padded.tar.gz'), good.sha256);
    expect(error).toMatch(
      /^cannot install padded_1 from http:\/\/127\.0\.0\.1:\d+\/padded\.tar\.gz: http:\/\/\S+ goes on after the end of its gzip data: more than 1048576 bytes follow it$/,
    );
    await closed('/padded.tar.gz');
    expect(server.served('/padded.tar.gz')[0]?.bytes).toBeLessThan(64 << 20);
  });

  it('gives up on a server dripping a byte every 2 s after --download-deadline-seconds, though the stall timeout never fires', async () => {
    const error = await refuse('drip', server.url('/drip.tar.gz'), good.sha256, { downloadTimeoutMs: 5000, downloadDeadlineMs: 1500 });
    expect(error).toMatch(
      /: http:\/\/127\.0\.0\.1:\d+\/drip\.tar\.gz not downloaded and extracted within 1\.5 s \(--download-deadline-seconds\); \d+ bytes read$/,
    );
    await closed('/drip.tar.gz');
  });

  it('with versions[].size, refuses an artifact longer, shorter or announced otherwise, and installs one of exactly that size', async () => {
    const n = good.bytes.length;
    const chunked = server.url('/good.tar.gz?chunked');
    expect(await refuse('size-long', chunked, good.sha256, {}, n - 1)).toMatch(
      new RegExp(`/good\\.tar\\.gz\\?chunked is longer than the ${n - 1} bytes intent gives as its size \\(versions\\[\\]\\.size\\)$`),
    );
    expect(await refuse('size-short', chunked, good.sha256, {}, n + 1)).toMatch(
      new RegExp(`/good\\.tar\\.gz\\?chunked ended after ${n} of the ${n + 1} bytes intent gives as its size \\(versions\\[\\]\\.size\\)$`),
    );
    expect(await refuse('size-announced', server.url('/good.tar.gz'), good.sha256, {}, n + 1)).toMatch(
      new RegExp(`/good\\.tar\\.gz is ${n} bytes long, but intent gives its size as ${n + 1} bytes \\(versions\\[\\]\\.size\\)$`),
    );
    expect(await refuse('size-file', pathToFileURL(good.path).href, good.sha256, {}, n - 1)).toMatch(
      new RegExp(`good\\.tar\\.gz is ${n} bytes long, but intent gives its size as ${n - 1} bytes`),
    );
    // The endless server is cut off right at the intended size, not a MiB after the gzip data.
    expect(await refuse('size-padded', server.url('/padded.tar.gz'), good.sha256, {}, n)).toMatch(
      new RegExp(`/padded\\.tar\\.gz is longer than the ${n} bytes intent gives as its size`),
    );
    await closed('/padded.tar.gz');

    await install('size-exact', server.url('/good.tar.gz'), good.sha256, {}, n);
    await install('size-exact-chunked', chunked, good.sha256, {}, n);
  });

  it('refuses an artifact larger than --max-download-bytes, before reading it when its length is known', async () => {
    const max = { maxDownloadBytes: 1 << 20 };
    const n = big.bytes.length;
    expect(n).toBeGreaterThan(1 << 20);
    expect(await refuse('cap-announced', server.url('/big.tar.gz'), big.sha256, max)).toMatch(
      new RegExp(`/big\\.tar\\.gz is larger than 1048576 bytes \\(--max-download-bytes\\): it is ${n} bytes long$`),
    );
    expect(await refuse('cap-chunked', server.url('/big.tar.gz?chunked'), big.sha256, max)).toMatch(
      /\/big\.tar\.gz\?chunked is larger than 1048576 bytes \(--max-download-bytes\)$/,
    );
    await closed('/big.tar.gz');
    const requests = server.served('/big.tar.gz').length;
    expect(await refuse('cap-intent', server.url('/big.tar.gz'), big.sha256, max, n)).toMatch(
      new RegExp(`intent gives \\S+/big\\.tar\\.gz a size of ${n} bytes, more than 1048576 \\(--max-download-bytes\\)$`),
    );
    expect(server.served('/big.tar.gz')).toHaveLength(requests);
    await install('cap-ok', server.url('/big.tar.gz?chunked'), big.sha256, { maxDownloadBytes: n });
  });

  it('refuses gzip bombs with the default limits, naming the ratio and --max-ratio; a higher --max-ratio lets the smaller one in', async () => {
    expect(bomb.length).toBeLessThan(3 << 20); // 2 GiB of zeros in about 2 MB
    const rule = /: the archive inflates more than 200:1 \(\d+ bytes from the first \d+ compressed bytes\) \(--max-ratio\)$/;
    expect(await refuse('bomb', server.url('/bomb.tar.gz'), sha256(bomb), DEFAULT_LIMITS)).toMatch(rule);
    expect(await refuse('bomb64', server.url('/bomb64.tar.gz'), sha256(bomb64), DEFAULT_LIMITS)).toMatch(rule);
    await closed('/bomb.tar.gz');

    const installed = await install('bomb64-allowed', server.url('/bomb64.tar.gz'), sha256(bomb64), { ...DEFAULT_LIMITS, maxRatio: 2000 });
    expect((await lstat(join(installed, 'zeros.bin'))).size).toBe(64 << 20);
  });
});

describe('pp-preparer refuses an archive with too many entries cheaply', () => {
  it('refuses the entry past --max-entries as soon as the parser sees it, while the one before is still being extracted', async () => {
    /** A tree whose every entry takes forever once its body is read (a stuck disk). */
    class Stuck extends SafeTree {
      override async add(entry: ReadEntry): Promise<void> {
        entry.resume();
        await new Promise(() => undefined);
      }
    }
    await mkdir(join(dir, 'unused'), { recursive: true });
    const out = await TreeWriter.start(join(dir, 'unused'));
    const tree = new Stuck(join(dir, 'unused'), { maxBytes: 1 << 20, maxEntries: 1 }, out);
    const sink = new ExtractSink(tree, { maxDecompressed: 1 << 30, maxRatio: 1e9, compressed: () => 1 });
    const failed = new Promise<Error>((resolve) => sink.once('error', resolve));
    sink.end(gunzipSync(manyFiles(2)));
    expect((await failed).message).toBe('refused entry "f-1": the archive has more than 1 entries (--max-entries)');
    await out.close();
  });

  it('stops at the entry past --max-entries and removes every file extracted before it', async () => {
    const archive = join(dir, 'many.tar.gz');
    const bytes = manyFiles(2001);
    await writeFile(archive, bytes);
    const error = await refuse('many', pathToFileURL(archive).href, sha256(bytes), { maxEntries: 2000 });
    expect(error).toMatch(/: refused entry "f-2000": the archive has more than 2000 entries \(--max-entries\)$/);
    expect(await readdir(join(dir, 'many', 'base', 'installs'))).toEqual([]);
  });
});
