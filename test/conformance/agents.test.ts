import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { createNativeAgent } from '../../agents/iptables/agent.js';
import { createPortAuthorityAgent } from '../../agents/iptables/port-authority/agent.js';
import { createPreparerAgent } from '../../agents/preparer/agent.js';
import type { Action, Agent } from '../../shared/loop/types.js';
import { chainLines, createNetns, jumpCount, type TestNetns } from '../agents/iptables/netns.js';
import { describeTree, makeArtifact, testOptions, version } from '../agents/preparer/support.js';
import { conformance } from '../support/conformance.js';
import { fileAgent } from '../support/file-agent.js';
import { appIntent } from '../support/intent-fixtures.js';

const REPO = resolve(import.meta.dirname, '../..');
const program = (agent: string) => join(REPO, 'dist/agents', agent, 'index.js');

/** Names and contents of the files in `dir` (none when it is missing). */
async function filesIn(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n), 'utf8')])));
}

conformance('preparer', {
  memory: true,
  program: true,
  async make(root) {
    const artifact = await makeArtifact(root, 'web', { 'bin/run': 'run\n', README: 'hello\n' });
    const url = pathToFileURL(artifact.path).href;
    const basedir = (app: string) => join(root, 'apps', app);
    const spec = (app: string) =>
      JSON.stringify({
        schema: 1,
        basedir: basedir(app),
        versions: [version('1', url, artifact.sha256, 'prepared'), version('2', url, artifact.sha256, 'live')],
        service: { command: ['bin/run'] },
      });
    return {
      agent: () => createPreparerAgent(testOptions({ keep: 0 })) as unknown as Agent<unknown, Action>,
      intent: { web: spec('web'), api: spec('api') },
      // The installs' trees, without the records' timestamps: what a finished install must hold.
      host: async () => {
        const out: Record<string, unknown> = {};
        for (const app of ['web', 'api']) {
          const tree = await describeTree(join(basedir(app), 'installs')).catch(() => ({}));
          out[app] = Object.fromEntries(Object.entries(tree).filter(([path]) => !path.startsWith('.pp-install-')));
        }
        return out;
      },
      program: { path: program('preparer'), args: ['--keep', '0', '--progress', 'off'] },
    };
  },
});

conformance('iptables', {
  title: 'iptables (port_authority mode)',
  memory: false,
  program: true,
  async make(root) {
    const configDir = join(root, 'pa');
    await mkdir(configDir, { recursive: true });
    const refresh = join(root, 'refresh.sh');
    await writeFile(refresh, '#!/bin/sh\nexit 0\n');
    await chmod(refresh, 0o755);
    const spec = (port: number) => JSON.stringify(appIntent('1', { ports: [{ port, protocol: 'tcp' }] }));
    return {
      agent: () => createPortAuthorityAgent({ configDir, refresh: [refresh], prefix: [] }) as unknown as Agent<unknown, Action>,
      intent: { web: spec(8080), api: spec(8081) },
      host: () => filesIn(configDir),
      program: { path: program('iptables'), args: ['--mode', 'port-authority', '--config-dir', configDir, '--refresh-command', refresh] },
    };
  },
});

// Native mode, whose every action is node-wide: in a network namespace of its own, one fresh chain per host.
let ns: TestNetns;
let chains = 0;
beforeAll(async () => {
  ns = await createNetns();
});
afterAll(async () => {
  await ns?.remove();
});

conformance('iptables', {
  title: 'iptables (native mode)',
  memory: false,
  program: true,
  async make() {
    chains += 1;
    const chain = `PPCONF${chains}`;
    const spec = (port: number) => JSON.stringify(appIntent('1', { ports: [{ port, protocol: 'tcp' }] }));
    const options = {
      chain,
      families: ['ipv4' as const],
      save: { ipv4: 'iptables-save', ipv6: 'ip6tables-save' },
      restore: { ipv4: 'iptables-restore', ipv6: 'ip6tables-restore' },
      prefix: ns.prefix,
    };
    return {
      agent: () => createNativeAgent(options) as unknown as Agent<unknown, Action>,
      intent: { web: spec(8080), api: spec(8081), db: spec(5432) },
      host: async () => {
        const save = await ns.sh('iptables-save -t filter');
        // Each host has a chain of its own: compared by content, whatever its name.
        return { rules: chainLines(save, chain).map((l) => l.replace(` ${chain} `, ' <chain> ')), jumps: jumpCount(save, chain) };
      },
      program: { path: program('iptables'), args: ['--chain', chain, '--command-prefix', ns.prefix.join(' ')] },
    };
  },
});

// The throw-away agent of the tests (test/support/file-agent.ts): the kit's promises hold for an agent written
// against it with no safety call of its own. It is no built program, so it is not killed.
conformance('pp-files', {
  memory: false,
  program: false,
  async make(root) {
    const dir = join(root, 'files');
    await mkdir(dir, { recursive: true });
    return {
      agent: () => fileAgent(dir) as unknown as Agent<unknown, Action>,
      intent: { web: JSON.stringify(appIntent('1.0')), api: JSON.stringify(appIntent('2.0')) },
      host: () => filesIn(dir),
    };
  },
});
