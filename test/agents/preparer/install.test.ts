import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../../shared/loop/run-agent.js';
import {
  describeTree,
  FolderStore,
  gnuExtract,
  listInstalls,
  makeArtifact,
  putIntent,
  reality,
  runOnce,
  sha256,
  startServer,
  stopServer,
  tempDir,
  version,
  type TreeSpec,
} from './support.js';

const SPEC_A: TreeSpec = {
  'bin/run': { mode: 0o755, content: '#!/bin/sh\necho a\n' },
  'bin/run-link': { link: 'run' },
  'lib/deep/nested/data.txt': 'nested data\n',
  'lib/same.txt': { hard: 'lib/deep/nested/data.txt' },
  'lib/up-link': { link: '../bin/run' },
  'etc/secret.conf': { mode: 0o600, content: 'k=v\n' },
  'empty-file': '',
};
const SPEC_B: TreeSpec = { 'bin/run': { mode: 0o755, content: '#!/bin/sh\necho b\n' }, README: 'version b\n' };

let dir: string;
let server: Awaited<ReturnType<typeof startServer>> | undefined;
let a: Awaited<ReturnType<typeof makeArtifact>>;
let b: Awaited<ReturnType<typeof makeArtifact>>;

beforeAll(async () => {
  dir = await tempDir('install');
  a = await makeArtifact(dir, 'a', SPEC_A);
  b = await makeArtifact(dir, 'b', SPEC_B);
  server = await startServer(
    new Map([
      ['/a.tar.gz', a.path],
      ['/b.tar.gz', b.path],
    ]),
  );
});

afterAll(async () => {
  await stopServer(server?.server);
  await rm(dir, { recursive: true, force: true });
});

let stores = 0;
function freshStore() {
  const root = join(dir, `case-${++stores}`);
  return { store: new FolderStore(join(root, 'store')), base: join(root, 'base') };
}

describe('pp-preparer installs', () => {
  it('installs every listed version over HTTP and file://, exactly as GNU tar extracts it, and a second pass changes nothing', async () => {
    const { store, base } = freshStore();
    await putIntent(store, 'web', base, [
      version('1', server!.url('/a.tar.gz'), a.sha256, 'live'),
      version('2', pathToFileURL(b.path).href, b.sha256),
    ]);
    const first = await runOnce(store);
    expect(exitCodeOf(first)).toBe(0);
    const tree = await describeTree(join(base, 'installs/web_1'));
    expect(tree).toEqual(await describeTree(await gnuExtract(a.path, dir)));
    expect(tree).toMatchObject({
      'bin/run': expect.stringMatching(/ 755 nlink=1$/),
      'etc/secret.conf': expect.stringMatching(/ 600 /),
      'lib/same.txt': expect.stringMatching(/nlink=2$/),
      'lib/up-link': 'link -> ../bin/run',
    });
    expect(await describeTree(join(base, 'installs/web_2'))).toEqual(await describeTree(await gnuExtract(b.path, dir)));
    expect(await listInstalls(base)).toEqual(['.pp-install-web_1.json', '.pp-install-web_2.json', 'web_1', 'web_2']);
    const record = JSON.parse(await readFile(join(base, 'installs/.pp-install-web_1.json'), 'utf8')) as { sha256: string };
    expect(record.sha256).toBe(a.sha256);
    const r = await reality(store, 'web');
    expect(r).toMatchObject({
      status: 'converged',
      version: '1',
      details: { present: ['1', '2'], pending: {}, failures: {}, current: null, kept: [] },
    });
    const second = await runOnce(store);
    expect(second?.changed).toBe(0);
    expect(exitCodeOf(second)).toBe(0);
  });

  it('refuses a GNU sparse file (tar --sparse) as an unsupported entry type, naming it, and installs nothing', async () => {
    const { store, base } = freshStore();
    const src = join(dir, 'sparse.src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a\n');
    await writeFile(join(src, 'holes.bin'), 'head\n');
    await truncate(join(src, 'holes.bin'), 4 << 20); // all but the first bytes a hole: GNU tar stores it as a sparse entry
    await appendFile(join(src, 'holes.bin'), 'tail\n');
    const path = join(dir, 'sparse.tar.gz');
    execFileSync('tar', ['--sparse', '-czf', path, '-C', src, '.']);
    await putIntent(store, 'sparse', base, [version('1', pathToFileURL(path).href, sha256(await readFile(path)))]);
    expect(exitCodeOf(await runOnce(store))).toBe(1);
    expect((await reality(store, 'sparse'))?.error).toMatch(/refused entry "\.\/holes\.bin": unsupported entry type SparseFile$/);
    expect(await listInstalls(base)).toEqual([]);
  });

  it('refuses an artifact whose sha256 differs: both digests reported, no install, no temp folder, other apps still installed', async () => {
    const { store, base } = freshStore();
    const wrong = 'f'.repeat(64);
    await putIntent(store, 'bad', `${base}-bad`, [version('1', server!.url('/a.tar.gz'), wrong)]);
    await putIntent(store, 'good', base, [version('1', server!.url('/b.tar.gz'), b.sha256)]);
    const result = await runOnce(store);
    expect(exitCodeOf(result)).toBe(1);
    const bad = await reality(store, 'bad');
    expect(bad?.status).toBe('failed');
    expect(bad?.error).toContain(`expected ${wrong}, got ${a.sha256}`);
    expect(bad?.details).toMatchObject({
      present: [],
      failures: { 1: expect.stringContaining('sha256 mismatch') },
      pending: { 1: expect.stringContaining('retrying after') },
    });
    expect((await reality(store, 'good'))?.status).toBe('converged');
    expect(await listInstalls(base)).toEqual(['.pp-install-good_1.json', 'good_1']);
    expect(await listInstalls(`${base}-bad`)).toEqual([]);
  });

  it('replaces an install made from another digest, but never the one current points to', async () => {
    const { store, base } = freshStore();
    await putIntent(store, 'web', base, [version('1', server!.url('/a.tar.gz'), a.sha256)]);
    expect(exitCodeOf(await runOnce(store))).toBe(0);
    await putIntent(store, 'web', base, [version('1', server!.url('/b.tar.gz'), b.sha256)]);
    expect(exitCodeOf(await runOnce(store))).toBe(0);
    expect(await readFile(join(base, 'installs/web_1/README'), 'utf8')).toBe('version b\n');
    expect(await listInstalls(base)).toEqual(['.pp-install-web_1.json', 'web_1']);

    await symlink('installs/web_1', join(base, 'current'));
    await putIntent(store, 'web', base, [version('1', server!.url('/a.tar.gz'), a.sha256)]);
    expect(exitCodeOf(await runOnce(store))).toBe(1);
    const r = await reality(store, 'web');
    expect(r?.error).toMatch(
      /web_1 was made from sha256 [0-9a-f]{64}, expected sha256 [0-9a-f]{64}; it is current, so it is not replaced in place/,
    );
    expect(await readFile(join(base, 'installs/web_1/README'), 'utf8')).toBe('version b\n');
  });

  it('treats an install folder without a record as unverified and replaces it', async () => {
    const { store, base } = freshStore();
    execFileSync('mkdir', ['-p', join(base, 'installs/web_1')]);
    await writeFile(join(base, 'installs/web_1/stray'), 'made by hand');
    await putIntent(store, 'web', base, [version('1', server!.url('/b.tar.gz'), b.sha256)]);
    expect(exitCodeOf(await runOnce(store))).toBe(0);
    expect(await describeTree(join(base, 'installs/web_1'))).toEqual(await describeTree(await gnuExtract(b.path, dir)));
  });

  it('downloads over https with the CA from --ca-file, and fails clearly without it', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const body = b.bytes;
    const https = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) =>
      res.writeHead(200, { 'content-length': body.length }).end(body),
    );
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(https.address() as AddressInfo).port}/b.tar.gz`;
      const { store, base } = freshStore();
      await putIntent(store, 'web', base, [version('1', url, b.sha256)]);
      expect(exitCodeOf(await runOnce(store))).toBe(1);
      expect((await reality(store, 'web'))?.error).toMatch(/self[- ]signed certificate/);
      expect(exitCodeOf(await runOnce(store, { ca: await readFile(cert) }))).toBe(0);
      expect(await readFile(join(base, 'installs/web_1/README'), 'utf8')).toBe('version b\n');
    } finally {
      https.closeAllConnections();
      await new Promise((r) => https.close(r));
    }
  });
});
