// package.json's bin and deploy/systemd/ are generated from agents/agents.json, schema/intent.schema.json and README's
// table of intent sections from shared/intent/ (scripts/generate.mjs), and checked in; these tests fail when someone
// changed the list or the schema and forgot `npm run generate`.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAgentList } from '../../shared/agent-list.js';

const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** A temp folder holding what the generator reads and writes, copied from this repository. */
async function generatorCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pp-generate-'));
  await mkdir(join(dir, 'agents'));
  await cp(join(REPO, 'agents/agents.json'), join(dir, 'agents/agents.json'));
  for (const path of ['scripts', 'shared', 'schema', 'package.json', 'README.md', 'deploy/systemd'])
    await cp(join(REPO, path), join(dir, path), { recursive: true });
  await symlink(await realpath(join(REPO, 'node_modules')), join(dir, 'node_modules'));
  return dir;
}

/** The files the generator writes besides the units, as the copy at `root` holds them. */
const texts = async (root: string) =>
  Object.fromEntries(
    await Promise.all(
      ['package.json', 'schema/intent.schema.json', 'README.md'].map(async (f) => [f, await readFile(join(root, f), 'utf8')]),
    ),
  );

const units = async (root: string) => (await readdir(join(root, 'deploy/systemd'))).sort();

describe('generated files', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('the checked-in package.json bin, systemd units, JSON Schema and README table are what npm run generate writes', async () => {
    const dir = await generatorCopy();
    dirs.push(dir);
    const { stdout } = await run(process.execPath, [join(dir, 'scripts/generate.mjs')]);
    const repo = await texts(REPO);
    for (const [file, text] of Object.entries(await texts(dir))) expect(text, `${file} is stale: run npm run generate`).toBe(repo[file]);
    expect(await units(dir)).toEqual(await units(REPO));
    for (const unit of await units(dir)) {
      expect(await readFile(join(dir, 'deploy/systemd', unit), 'utf8'), `${unit} is stale: run npm run generate`).toBe(
        await readFile(join(REPO, 'deploy/systemd', unit), 'utf8'),
      );
    }
    expect(stdout).toBe('generated files are up to date\n');
  });

  it('follows the list: a bin entry and a unit per agent, in list order; a dropped agent loses both', async () => {
    const dir = await generatorCopy();
    dirs.push(dir);
    await writeFile(
      join(dir, 'agents/agents.json'),
      JSON.stringify({
        agents: [
          { name: 'setlive', summary: 'flips intended versions live under runit', metricsPort: 9466, everyNode: true },
          { name: 'cron-tab', summary: 'keeps intended cron jobs', metricsPort: 9480, everyNode: false },
        ],
      }),
    );
    const { stdout } = await run(process.execPath, [join(dir, 'scripts/generate.mjs')]);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(Object.entries(pkg.bin)).toEqual([
      ['pp', 'dist/pp/index.js'],
      ['pp-setlive', 'dist/agents/setlive/index.js'],
      ['pp-cron-tab', 'dist/agents/cron-tab/index.js'],
    ]);
    expect(pkg.scripts.generate).toBe('node scripts/generate.mjs');
    expect(await units(dir)).toEqual(['pp-cron-tab.service', 'pp-setlive.service']);
    const unit = await readFile(join(dir, 'deploy/systemd/pp-cron-tab.service'), 'utf8');
    expect(unit).toContain('Description=Platypus pp-cron-tab: keeps intended cron jobs\n');
    expect(unit).toContain("ExecStart=/bin/sh -c 'exec pp-cron-tab $PLATYPUS_ARGS'\n");
    expect(unit).toContain('EnvironmentFile=-/etc/platypus/pp-cron-tab.env\n');
    expect(unit).toContain('Environment=PLATYPUS_METRICS_ADDRESS=127.0.0.1:9480\n');
    expect(stdout).toContain('generated deploy/systemd/pp-preparer.service (removed)');
  });

  it('refuses an agent name that cannot be a folder and program name, and writes nothing', async () => {
    const dir = await generatorCopy();
    dirs.push(dir);
    await writeFile(join(dir, 'agents/agents.json'), JSON.stringify({ agents: [{ name: 'Bad Name', summary: 'x' }] }));
    await expect(run(process.execPath, [join(dir, 'scripts/generate.mjs')])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('agent name "Bad Name"'),
    });
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(await readFile(join(REPO, 'package.json'), 'utf8'));
    expect(await units(dir)).toEqual(await units(REPO));
  });

  it('refuses two agents on one metrics port, or an entry without its port or everyNode, naming agent and field', async () => {
    const dir = await generatorCopy();
    dirs.push(dir);
    const refused = async (agents: object[], message: string) => {
      await writeFile(join(dir, 'agents/agents.json'), JSON.stringify({ agents }));
      await expect(run(process.execPath, [join(dir, 'scripts/generate.mjs')])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(message),
      });
      expect(() => parseAgentList(JSON.stringify({ agents }))).toThrow(message);
    };
    const a = { name: 'a', summary: 'x', metricsPort: 9500, everyNode: true };
    await refused([a, { ...a, name: 'b' }], "agent b: field metricsPort: 9500 is agent a's already");
    await refused([{ name: 'a', summary: 'x', everyNode: true }], 'agent a: field metricsPort');
    await refused([{ name: 'a', summary: 'x', metricsPort: 9500 }], 'agent a: field everyNode');
    expect(await units(dir)).toEqual(await units(REPO));
  });

  it("takes each section's agent from shared/intent/sections.ts into README's table and the JSON Schema's descriptions", async () => {
    const dir = await generatorCopy();
    dirs.push(dir);
    const sections = join(dir, 'shared/intent/sections.ts');
    const source = await readFile(sections, 'utf8');
    expect(source).toContain("ports: { owner: 'iptables', since: '0.1.0' },");
    await writeFile(
      sections,
      source.replace("ports: { owner: 'iptables', since: '0.1.0' },", "ports: { owner: 'setlive', since: '0.1.0' },"),
    );
    const { stdout } = await run(process.execPath, [join(dir, 'scripts/generate.mjs')]);
    expect(stdout).toBe('generated schema/intent.schema.json\ngenerated README.md\n');
    const readme = await readFile(join(dir, 'README.md'), 'utf8');
    expect(readme).toContain('| `ports` | pp-setlive | 0.1.0 |\n');
    expect(readme).not.toContain('| `ports` | pp-iptables |');
    const schema = JSON.parse(await readFile(join(dir, 'schema/intent.schema.json'), 'utf8'));
    expect(schema.properties.ports.description).toContain('Section of pp-setlive, which checks and acts on it');
    // Everything else is as before: only the lines of the ports row and description differ.
    const repo = await texts(REPO);
    const changed = (a: string, b: string) => a.split('\n').filter((line, i) => line !== b.split('\n')[i]).length;
    expect(changed(readme, repo['README.md']!)).toBe(1);
    expect(changed(await readFile(join(dir, 'schema/intent.schema.json'), 'utf8'), repo['schema/intent.schema.json']!)).toBe(1);
  });

  it("refuses a README without the table's marker lines, and writes nothing", async () => {
    const dir = await generatorCopy();
    dirs.push(dir);
    const readme = (await readFile(join(dir, 'README.md'), 'utf8')).replace('<!-- end of the generated table -->', '');
    await writeFile(join(dir, 'README.md'), readme);
    await writeFile(
      join(dir, 'agents/agents.json'),
      JSON.stringify({ agents: [{ name: 'setlive', summary: 'flips', metricsPort: 9466, everyNode: true }] }),
    );
    await expect(run(process.execPath, [join(dir, 'scripts/generate.mjs')])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('README.md: expected the lines'),
    });
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe(readme);
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(await readFile(join(REPO, 'package.json'), 'utf8'));
    expect(await units(dir)).toEqual(await units(REPO));
  });
});
