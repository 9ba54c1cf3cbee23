import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeployments } from '../../pp/deploy/record.js';
import { appIntentKey } from '../../shared/keys.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import { runCli } from '../support/run-cli.js';

const APP = 'hello';
const spec = {
  schema: 1,
  basedir: '/srv/hello',
  versions: [{ version: '1.0', url: 'file:///nowhere/h.tar.gz', sha256: 'c'.repeat(64), state: 'live' }],
  service: { command: ['bin/x'] },
};
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-deploy-stdin-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('pp deploy --file - (folder store, no agent running)', () => {
  it('reads the spec from stdin as pp intent put --file - does, and says where a bad one came from', async () => {
    const dir = join(root, 'store');
    const pp = (input: string, ...args: string[]) => runCli('pp/index.js', ['--store', `folder:${dir}`, '--prefix', 'p', ...args], input);

    const dry = await pp(JSON.stringify(spec), 'deploy', APP, '--file', '-', '--nodes', 'web1,web2', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('2 nodes: 2 first install');

    // No preparer runs: the deploy stages the spec read from stdin, then --timeout ends it.
    const run = await pp(JSON.stringify(spec), 'deploy', APP, '--file', '-', '--nodes', 'web1,web2', '--yes', '--timeout', '1');
    expect(run.code, run.stderr).toBe(8);
    expect(run.stderr).toContain('staged 1.0 on 2 node(s)');
    const store = new FolderStore(dir);
    for (const node of ['web1', 'web2'])
      expect(JSON.parse((await store.get(appIntentKey('p', node, APP)))!)).toEqual({
        ...spec,
        versions: [{ ...spec.versions[0], state: 'prepared' }],
      });
    expect((await readDeployments(store, 'p', APP)).map((r) => r.spec)).toEqual([spec]);

    const invalid = await pp('{"schema": 1}', 'deploy', APP, '--file', '-', '--nodes', 'web1', '--dry-run');
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^pp: invalid intent at stdin: /);
    const noLive = await pp(
      JSON.stringify({ ...spec, versions: [{ ...spec.versions[0], state: 'prepared' }] }),
      'deploy',
      APP,
      '--file',
      '-',
      '--all',
    );
    expect([noLive.code, noLive.stderr]).toEqual([
      2,
      'pp: stdin: field versions: pp deploy needs one version with state "live" (the version to deploy)\n',
    ]);
    const both = await pp(JSON.stringify(spec), 'deploy', APP, '--file', '-', '--nodes', '-', '--yes');
    expect([both.code, both.stderr]).toEqual([2, 'pp: --file - and --nodes - both read stdin: give the nodes with --nodes a,b or --all\n']);
    const none = await pp('', 'deploy', APP, '--nodes', 'web1', '--yes');
    expect([none.code, none.stderr]).toEqual([2, 'pp: pp deploy needs the spec: --file spec.json, or --file - to read it from stdin\n']);
    // None of the refused ones wrote anything: the one record is the staging deploy's.
    expect(await readDeployments(store, 'p', APP)).toHaveLength(1);
    await store.close();
  });
});
