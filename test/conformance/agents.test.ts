// The conformance suite (test/support/conformance.ts) on each agent of this repository, on real parts: real
// tarballs for pp-preparer, port-authority's config folder and a network namespace for pp-iptables, a real runsvdir
// and the version server for pp-setlive. The throw-away fourth agent runs it in test/repo/fourth-agent.test.ts.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { createNativeAgent } from '../../agents/iptables/agent.js';
import { createPortAuthorityAgent } from '../../agents/iptables/port-authority/agent.js';
import { createPreparerAgent } from '../../agents/preparer/agent.js';
import { createSetliveAgent } from '../../agents/setlive/agent.js';
import type { Action, Agent } from '../../shared/loop/types.js';
import { chainLines, createNetns, jumpCount, type TestNetns } from '../agents/iptables/netns.js';
import { makeArtifact, testOptions, version } from '../agents/preparer/support.js';
import { intentFor, makeInstall, testConfig } from '../agents/setlive/helpers.js';
import { conformance, tree } from '../support/conformance.js';
import { freePort } from '../support/free-port.js';
import { appIntent } from '../support/intent-fixtures.js';
import { startRunsvdir, stopEverythingUnder } from '../support/runit.js';
import { versionOn } from '../support/version-server.js';

const REPO = resolve(import.meta.dirname, '../..');
const program = (agent: string) => join(REPO, 'dist/agents', agent, 'index.js');

conformance('preparer', {
  async make(root) {
    const artifact = await makeArtifact(root, 'web', { 'bin/run': 'run\n', README: 'hello\n' });
    const url = pathToFileURL(artifact.path).href;
    const apps = join(root, 'apps');
    const spec = (app: string) =>
      JSON.stringify({
        schema: 1,
        basedir: join(apps, app),
        versions: [version('1', url, artifact.sha256, 'prepared'), version('2', url, artifact.sha256, 'live')],
        service: { command: ['bin/run'] },
      });
    return {
      agent: () => createPreparerAgent(testOptions({ keep: 0 })) as unknown as Agent<unknown, Action>,
      intent: { web: spec('web'), api: spec('api') },
      // The installs, without the records' timestamps: what a finished install must hold.
      host: () => tree(apps, { root, skip: (path) => path.split('/').at(-1)!.startsWith('.pp-install-') }),
      program: { path: program('preparer'), args: ['--keep', '0', '--progress', 'off'] },
    };
  },
});

conformance('iptables', {
  title: 'iptables (port_authority mode)',
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
      host: () => tree(configDir, { root }),
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

// The ports the apps of each setlive host serve: one host at a time runs, and each is stopped before the next.
let setlivePorts: Promise<Record<string, number>> | undefined;
/** What runit writes in a service folder (supervise/) and svlogd's logs: not pp-setlive's. */
const runitOwn = (path: string) => /(^|\/)(supervise|log\/main)(\/|$)/.test(path);

conformance('setlive', {
  async make(root) {
    setlivePorts ??= (async () => ({ web: await freePort(), api: await freePort() }))();
    const ports = await setlivePorts;
    const serviceDir = join(root, 'service');
    const stageDir = join(root, 'stage');
    await mkdir(serviceDir);
    await mkdir(stageDir);
    const basedir = (app: string) => join(root, 'apps', app);
    for (const app of Object.keys(ports)) await makeInstall(basedir(app), app, '1');
    const runsvdir = await startRunsvdir(serviceDir);
    const config = { ...testConfig({ serviceDir, stageDir }), settleMs: 0, parallel: 2 };
    const seen = (dir: string) => tree(dir, { root, skip: runitOwn });
    return {
      agent: () => createSetliveAgent(config) as unknown as Agent<unknown, Action>,
      // A health wait long enough for a loaded machine to start a node process.
      intent: Object.fromEntries(
        Object.entries(ports).map(([app, port]) => [
          app,
          JSON.stringify(intentFor(basedir(app), port, { live: '1', healthTimeoutMs: 20_000 })),
        ]),
      ),
      host: async () => ({
        apps: await seen(join(root, 'apps')),
        stage: await seen(stageDir),
        service: await seen(serviceDir),
        answers: Object.fromEntries(await Promise.all(Object.entries(ports).map(async ([app, port]) => [app, await versionOn(port)]))),
      }),
      program: {
        path: program('setlive'),
        // The same settings as the agent above, as flags.
        args: Object.entries({
          'service-dir': serviceDir,
          'stage-dir': stageDir,
          'settle-seconds': config.settleMs / 1000,
          parallel: config.parallel,
          'stop-timeout-seconds': config.stopTimeoutMs / 1000,
          'start-timeout-seconds': config.startTimeoutMs / 1000,
          'pickup-timeout-seconds': config.pickupTimeoutMs / 1000,
        }).flatMap(([flag, value]) => [`--${flag}`, String(value)]),
      },
      // Each step of one app's first flip; the other app's are the same steps.
      crashApps: ['web'],
      foreign: runitOwn,
      stop: async () => {
        await runsvdir.stop();
        await stopEverythingUnder(root);
      },
    };
  },
});
