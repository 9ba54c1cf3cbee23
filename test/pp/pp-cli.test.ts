import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { appIntent, uniquePrefix } from '../support/intent-fixtures.js';
import { runCli } from '../support/run-cli.js';

const pp = (args: string[], input?: string) => runCli('pp/index.js', args, input);

for (const kind of ['folder', 'consul'] as const) {
  describe(`pp against the ${kind} store`, () => {
    let base: string[];
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pp-cli-'));
      const store = kind === 'folder' ? `folder:${join(dir, 'store')}` : `consul://${inject('consulAddress')}`;
      base = ['--store', store, '--prefix', uniquePrefix('cli')];
      await writeFile(join(dir, 'good.json'), JSON.stringify(appIntent('1.0')));
      await writeFile(join(dir, 'bad.json'), JSON.stringify({ ...appIntent('1.0'), ports: [{ port: 0, protocol: 'sctp' }] }));
    });

    it('round-trips intent put then get, for several nodes at once', async () => {
      const put = await pp([...base, 'intent', 'put', 'web1,web2', 'hello', '--file', join(dir, 'good.json')]);
      expect(put.code).toBe(0);
      for (const node of ['web1', 'web2']) {
        const got = await pp([...base, 'intent', 'get', node, 'hello']);
        expect(got.code).toBe(0);
        expect(JSON.parse(got.stdout)).toEqual({ ...appIntent('1.0'), basedir: expect.any(String) });
      }
      expect((await pp([...base, 'intent', 'ls'])).stdout.trim().split('\n')).toEqual(['web1', 'web2']);
    });

    it('takes the spec from stdin', async () => {
      expect((await pp([...base, 'intent', 'put', 'web3', 'api'], JSON.stringify(appIntent('2.0')))).code).toBe(0);
      expect(JSON.parse((await pp([...base, 'intent', 'get', 'web3', 'api'])).stdout).versions[0].version).toBe('2.0');
    });

    it('refuses an invalid spec with key and field named, and writes nothing', async () => {
      const put = await pp([...base, 'intent', 'put', 'web1', 'bad', '--file', join(dir, 'bad.json')]);
      expect(put.code).toBe(2);
      expect(put.stderr).toMatch(
        /invalid intent at key [^ ]+\/intent\/web1\/bad: field ports\[0\]\.port: expected 1\.\.65535; field ports\[0\]\.protocol/,
      );
      expect((await pp([...base, 'intent', 'get', 'web1', 'bad'])).code).toBe(4);
    });

    it('refuses node and app names that could escape a folder', async () => {
      const put = await pp([...base, 'intent', 'put', '..', 'x', '--file', join(dir, 'good.json')]);
      expect(put.code).toBe(2);
      expect(put.stderr).toContain('invalid node name');
      const app = await pp([...base, 'intent', 'put', 'web1', 'a/b', '--file', join(dir, 'good.json')]);
      expect(app).toMatchObject({ code: 2, stderr: expect.stringContaining('invalid app name "a/b": must not contain a slash') });
    });

    it("refuses an app whose basedir is another app's on the node, or inside or around it, with exit 2", async () => {
      await writeFile(join(dir, 'outer.json'), JSON.stringify(appIntent('1.0', { basedir: '/srv/pp-cli-outer' })));
      await writeFile(join(dir, 'inner.json'), JSON.stringify(appIntent('1.0', { basedir: '/srv/pp-cli-outer/inner' })));
      expect((await pp([...base, 'intent', 'put', 'web9', 'outer', '--file', join(dir, 'outer.json')])).code).toBe(0);
      const put = await pp([...base, 'intent', 'put', 'web9', 'inner', '--file', join(dir, 'inner.json')]);
      expect(put.code).toBe(2);
      expect(put.stderr).toContain(
        'node web9: app inner: field basedir: /srv/pp-cli-outer/inner is inside /srv/pp-cli-outer, the basedir of app outer',
      );
      expect((await pp([...base, 'intent', 'get', 'web9', 'inner'])).code).toBe(4);
      expect((await pp([...base, 'intent', 'put', 'web9', 'outer', '--file', join(dir, 'outer.json')])).code).toBe(0); // the app itself may be put again
    });

    it('marks a node drained when its last app is removed', async () => {
      expect((await pp([...base, 'intent', 'rm', 'web2', 'hello'])).code).toBe(0);
      expect((await pp([...base, 'intent', 'ls', 'web2'])).stdout).toContain('.drained');
      expect((await pp([...base, 'intent', 'put', 'web2', 'hello', '--file', join(dir, 'good.json')])).code).toBe(0);
      expect((await pp([...base, 'intent', 'ls', 'web2'])).stdout.trim()).toBe('hello');
    });

    it('diffs a spec against the stored intent', async () => {
      const same = await pp([...base, 'intent', 'diff', 'web1', 'hello', '--file', join(dir, 'good.json')]);
      expect(same.code).toBe(0);
      const changed = await pp([...base, 'intent', 'diff', 'web1', 'hello'], JSON.stringify(appIntent('1.1')));
      expect(changed.code).toBe(5);
      expect(changed.stdout).toContain('-       "version": "1.0"');
      expect(changed.stdout).toContain('+       "version": "1.1"');
    });

    it('shows status per node and app, as a table and as JSON', async () => {
      const table = await pp([...base, 'status']);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/web1\s+hello\s+1\.0\*/);
      const json = JSON.parse((await pp([...base, 'status', 'web3', '--json'])).stdout);
      expect(json).toEqual([{ node: 'web3', app: 'api', intended: '2.0*', agents: {} }]);
    });
  });
}

describe('pp validate', () => {
  it('exits 0 for a valid file and 2 with the field named for an invalid one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pp-validate-'));
    await writeFile(join(dir, 'ok.json'), JSON.stringify(appIntent('1')));
    await writeFile(join(dir, 'no.json'), '{"schema": 2}');
    expect((await pp(['validate', join(dir, 'ok.json')])).code).toBe(0);
    const bad = await pp(['validate', join(dir, 'no.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('field schema: expected schema version 1');
  });
});

describe('pp schema', () => {
  it('prints the JSON Schema that schema/intent.schema.json holds, naming the rules it cannot check', async () => {
    const printed = await pp(['schema']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(await readFile(new URL('../../schema/intent.schema.json', import.meta.url), 'utf8'));
    const schema = JSON.parse(printed.stdout);
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required).toEqual(['schema', 'basedir']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.description).toContain('at most one live version, a service when a version is live');
    expect(schema.properties.service.description).toContain('Required when a version is live');
  });
});

describe('pp usage', () => {
  it('prints help on stdout with exit 0, for pp and for a command, and the version', async () => {
    const top = await pp(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('intent put <node> <app>');
    const put = await pp(['intent', 'put', '--help']);
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/-f, --file <file>/);
    const version = await pp(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^pp \d+\.\d+\.\d+\n$/);
  });

  it('refuses a missing command, an unknown command, a missing positional and an unknown flag with exit 2 and a hint', async () => {
    const none = await pp([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Usage: pp \[options\] \[command\]\n/);
    const unknown = await pp(['launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("pp: unknown command 'launch'\nRun pp --help for usage.\n");
    const missing = await pp(['intent', 'get', 'web1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("pp: missing required argument 'app'\nRun pp intent get --help for usage.\n");
    const bogus = await pp(['status', '--bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("pp: unknown option '--bogus'\n");
  });
});
