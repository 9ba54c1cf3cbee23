import { mkdir, mkdtemp, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getIntent, putIntent } from '../../../pp/intent-commands.js';
import { collectStatus, renderStatus } from '../../../pp/status.js';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import type { IntentStore } from '../../../shared/store/types.js';
import { ENVELOPE_FORMAT } from '../../../shared/trust/envelope.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, onceOptions } from '../../support/intent-fixtures.js';

const options = onceOptions();
const spec = (live: string) => JSON.stringify(appIntent(live));
const apiKey = appIntentKey('p', 'n1', 'api');
const files = async (dir: string) =>
  Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])));
const reality = async (store: IntentStore, app: string) => JSON.parse((await store.get(realityKey('p', 'n1', 'pp-files', app))) ?? 'null');
const LIMIT = '512 KiB limit (expected at most 524288 bytes)';
const deepJson = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** A node with two converged apps on a folder store that another tool (writing files) can reach into. */
async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'pp-limits-'));
  const storeRoot = join(root, 'store');
  const store = new FolderStore(storeRoot);
  const dir = join(root, 'files');
  const run = () => executeAgent(fileAgent(dir), store, silentLogger(), options);
  await putIntent(store, 'p', 'n1', 'web', spec('1.0'));
  await putIntent(store, 'p', 'n1', 'api', spec('2.0'));
  expect(await run()).toBe(0);
  expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
  return { store, dir, run, file: (key: string) => join(storeRoot, key) };
}

/** This process's peak memory so far, in MiB. */
const peakMiB = () => process.resourceUsage().maxRSS / 1024;

describe('a value over the 512 KiB limit at one app key', () => {
  it.each([
    ['600 KiB of valid intent', (path: string) => writeFile(path, spec('9.0') + ' '.repeat(600 * 1024)), /value of 614\d{3} bytes/],
    ['a sparse file of 300 MiB', (path: string) => truncate(path, 300 * 1024 ** 2), /value of 314572800 bytes/],
    // Past the longest string Node can hold: reading it failed the node's whole read, and every app stopped updating.
    ['a sparse file of 1 GiB', (path: string) => truncate(path, 1024 ** 3), /value of 1073741824 bytes/],
  ])('%s: that app is reported failed, naming the key and the limit, unread and kept; the other app converges', async (_, write, size) => {
    const { store, dir, run, file } = await setup();
    await putIntent(store, 'p', 'n1', 'web', spec('1.1'));
    await write(file(apiKey));
    const peak = peakMiB();
    expect(await run()).toBe(1);
    // Reading 300 MiB takes seconds and over a GiB of memory: the pass did not read the value.
    expect(peakMiB() - peak).toBeLessThan(150);
    expect(await files(dir)).toEqual({ web: '1.1', api: '2.0' });
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', version: '1.1' });
    const api = await reality(store, 'api');
    expect(api.status).toBe('failed');
    expect(api.error).toMatch(new RegExp(`^invalid intent at key ${apiKey}: ${size.source}, over the ${LIMIT.replace(/[()]/g, '\\$&')}$`));
    // pp intent get names the key and the limit; pp status still lists both apps.
    await expect(getIntent(store, 'p', 'n1', 'api')).rejects.toThrow(`cannot read ${apiKey}: `);
    await expect(getIntent(store, 'p', 'n1', 'api')).rejects.toThrow(LIMIT);
    expect((await collectStatus(store, 'p', 'n1')).map((r) => [r.app, r.intended, r.agents['pp-files']?.status])).toEqual([
      ['api', 'INVALID', 'failed'],
      ['web', '1.1*', 'converged'],
    ]);
    // pp intent put mends the key.
    await putIntent(store, 'p', 'n1', 'api', spec('2.1'));
    expect(await run()).toBe(0);
    expect(await files(dir)).toEqual({ web: '1.1', api: '2.1' });
    // Nor did anything since, replacing it included.
    expect(peakMiB() - peak).toBeLessThan(150);
  });
});

describe('JSON nested 100,000 levels deep', () => {
  it.each([
    ['in a value that names the envelope format', `{"platypus":"${ENVELOPE_FORMAT}","kind":"intent","spec":{"x":${deepJson(100_000)}}}`],
    ['in a plain spec', `{"schema":1,"x":${deepJson(100_000)}}`],
  ])('%s at one app key: that app fails naming the key and the limit, the other converges, pp intent get names both', async (_, value) => {
    const { store, dir, run, file } = await setup();
    await putIntent(store, 'p', 'n1', 'web', spec('1.1'));
    await writeFile(file(apiKey), value);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.1', api: '2.0' });
    expect((await reality(store, 'api')).error).toMatch(
      new RegExp(`^invalid intent at key ${apiKey}: JSON nested deeper than the limit of 64 levels \\(level 65 opens at offset \\d+\\)$`),
    );
    await expect(getIntent(store, 'p', 'n1', 'api')).rejects.toThrow(
      new RegExp(`^invalid intent at key ${apiKey}: JSON nested deeper than the limit of 64 levels`),
    );
    expect(JSON.parse(await getIntent(store, 'p', 'n1', 'web'))).toMatchObject({ schema: 1 });
    const rows = await collectStatus(store, 'p', 'n1');
    expect(rows.map((r) => [r.app, r.intended])).toEqual([
      ['api', 'INVALID'],
      ['web', '1.1*'],
    ]);
    expect(JSON.parse(JSON.stringify(rows))).toHaveLength(2); // pp status --json
  });

  it('in one reality record, or one over the size limit: pp status shows every other record and names that key and the limit', async () => {
    const { store, run, file } = await setup();
    const deepKey = realityKey('p', 'n1', 'pp-other', 'api');
    const bigKey = realityKey('p', 'n1', 'pp-other', 'web');
    await mkdir(join(file(deepKey), '..'), { recursive: true });
    await writeFile(file(deepKey), `{"app":"api","status":"failed","at":"2026-01-01T00:00:00Z","error":${deepJson(100_000)}}`);
    const big = `{"app":"web","status":"converged","at":"2026-01-01T00:00:00Z"}${' '.repeat(600 * 1024)}`;
    await writeFile(file(bigKey), big);
    const rows = await collectStatus(store, 'p', 'n1');
    expect(rows.map((r) => [r.app, r.agents['pp-files']?.status, r.agents['pp-other']?.status])).toEqual([
      ['api', 'converged', 'unreadable'],
      ['web', 'converged', 'unreadable'],
    ]);
    const text = renderStatus(rows);
    expect(text).toMatch(
      new RegExp(
        `n1/api pp-other: reality record at key ${deepKey}: JSON nested deeper than the limit of 64 levels \\(level 65 opens at offset \\d+\\)`,
      ),
    );
    expect(text).toContain(`n1/web pp-other: reality record at key ${bigKey}: value of ${big.length} bytes, over the ${LIMIT}`);
    expect(JSON.parse(JSON.stringify(rows))).toHaveLength(2); // pp status --json
    // The agent's own pass over its records is not disturbed by another agent's.
    expect(await run()).toBe(0);
  });
});
