import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { putIntent, removeIntent } from '../../../pp/intent-commands.js';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import type { NodeIntent } from '../../../shared/intent/node-intent.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { AgentStateFile } from '../../../shared/loop/agent-state.js';
import type { Agent } from '../../../shared/loop/types.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { SIGN_NAMESPACE } from '../../../shared/trust/envelope.js';
import { TrustGate } from '../../../shared/trust/gate.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, onceOptions } from '../../support/intent-fixtures.js';
import { makeSshKey, type SshKey } from '../../support/ssh-keys.js';

/** The daemon, --once and --dry-run share one judge → plan → admit path: what a dry run prints is what a run applies. */

let signersFile: string;
let alice: SshKey;

beforeAll(() => {
  const keys = mkdtempSync(join(tmpdir(), 'pp-one-path-keys-'));
  alice = makeSshKey(keys, 'alice');
  signersFile = join(keys, 'allowed_signers');
  writeFileSync(signersFile, `alice@example namespaces="${SIGN_NAMESPACE}" ${alice.publicKey}\n`);
});

const spec = (live: string) => JSON.stringify(appIntent(live));
const files = async (dir: string) =>
  Object.fromEntries(
    await Promise.all((await readdir(dir).catch(() => [] as string[])).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])),
  );

async function node(trusting = false) {
  const root = await mkdtemp(join(tmpdir(), 'pp-one-path-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'files');
  await mkdir(dir);
  const state = new AgentStateFile(join(root, 'state.json'), { agent: 'pp-files', node: 'n1', prefix: 'p', store: store.description });
  const execute = (agent: Agent<unknown, { kind: string; app: string }>, mode: 'once' | 'dry-run', out: (t: string) => void = () => {}) =>
    executeAgent(
      agent,
      store,
      silentLogger(),
      onceOptions({
        once: mode === 'once',
        dryRun: mode === 'dry-run',
        json: true,
        out,
        trust: trusting ? TrustGate.fromFile(signersFile) : undefined,
        state,
      }),
    );
  /** The actions a dry run prints, then the actions --once applies: both sorted, for the same store and host. */
  const both = async (agent: Agent<unknown, { kind: string; app: string }>) => {
    let printed = '';
    await execute(agent, 'dry-run', (t) => {
      printed += t;
    });
    const preview = (JSON.parse(printed) as { apps: { app: string; actions: string[] }[] }).apps.flatMap((a) =>
      a.actions.map((x) => `${a.app}: ${x}`),
    );
    const applied: string[] = [];
    const onApplied = (m: unknown) => {
      const { app, action } = m as { app: string; action: string };
      applied.push(`${app}: ${action}`);
    };
    subscribe('platypus:action-applied', onApplied);
    try {
      await execute(agent, 'once');
    } finally {
      unsubscribe('platypus:action-applied', onApplied);
    }
    return { preview: preview.sort(), applied: applied.sort(), printed };
  };
  return { store, dir, execute, both, root, sign: { keyPath: alice.path } };
}

describe('--dry-run prints exactly what --once applies', () => {
  it('over trusted, untrusted (a stray .drained), signed, invalid and removed intent', async () => {
    // Trusted: a change and a removal.
    const plain = await node();
    await plain.store.put(appIntentKey('p', 'n1', 'web'), spec('1'));
    await plain.store.put(appIntentKey('p', 'n1', 'api'), spec('2'));
    expect(await plain.both(fileAgent(plain.dir))).toMatchObject({ preview: ['api: write api=2', 'web: write web=1'] });
    await plain.store.put(appIntentKey('p', 'n1', 'web'), spec('1.1'));
    await plain.store.delete(appIntentKey('p', 'n1', 'api'));
    let run = await plain.both(fileAgent(plain.dir));
    expect(run.preview).toEqual(['api: remove api', 'web: write web=1.1']);
    expect(run.applied).toEqual(run.preview);

    // Untrusted: a stray .drained beside app keys; the intended app converges, the removal waits in both.
    await plain.store.put(appIntentKey('p', 'n1', 'old'), spec('3'));
    await plain.execute(fileAgent(plain.dir), 'once');
    await plain.store.transaction([
      { key: drainedKey('p', 'n1'), value: '{}' },
      { key: appIntentKey('p', 'n1', 'old'), value: null },
      { key: appIntentKey('p', 'n1', 'web'), value: spec('1.2') },
    ]);
    run = await plain.both(fileAgent(plain.dir));
    expect(run.preview).toEqual(['web: write web=1.2']);
    expect(run.applied).toEqual(run.preview);
    expect(await files(plain.dir)).toEqual({ web: '1.2', old: '3' });

    // Invalid: nothing is done for it, in either.
    await plain.store.delete(drainedKey('p', 'n1'));
    await plain.store.put(appIntentKey('p', 'n1', 'old'), '{"schema": 1, "basedir": 7}');
    run = await plain.both(fileAgent(plain.dir));
    expect(run.preview).toEqual([]);
    expect(run.applied).toEqual([]);
    expect(await files(plain.dir)).toEqual({ web: '1.2', old: '3' });

    // Signed: an accepted order, an unsigned one refused, a signed removal.
    const signed = await node(true);
    await putIntent(signed.store, 'p', 'n1', 'web', spec('1'), signed.sign);
    await putIntent(signed.store, 'p', 'n1', 'api', spec('2'), signed.sign);
    run = await signed.both(fileAgent(signed.dir));
    expect(run.preview).toEqual(['api: write api=2', 'web: write web=1']);
    expect(run.applied).toEqual(run.preview);
    await signed.store.put(appIntentKey('p', 'n1', 'web'), spec('6.6'));
    await signed.store.delete(appIntentKey('p', 'n1', 'api'));
    run = await signed.both(fileAgent(signed.dir));
    expect(run.preview).toEqual([]);
    expect(run.applied).toEqual([]);
    await putIntent(signed.store, 'p', 'n1', 'api', spec('2'), signed.sign);
    await removeIntent(signed.store, 'p', 'n1', 'api', signed.sign);
    run = await signed.both(fileAgent(signed.dir));
    expect(run.preview).toEqual(['api: remove api']);
    expect(run.applied).toEqual(run.preview);
    expect(await files(signed.dir)).toEqual({ web: '1' });
  });

  it('names what it holds on untrusted intent without saying that nothing would be done', async () => {
    const { store, dir, execute } = await node();
    await store.put(appIntentKey('p', 'n1', 'web'), spec('1'));
    await store.put(appIntentKey('p', 'n1', 'old'), spec('3'));
    await execute(fileAgent(dir), 'once');
    await store.transaction([
      { key: drainedKey('p', 'n1'), value: '{}' },
      { key: appIntentKey('p', 'n1', 'old'), value: null },
      { key: appIntentKey('p', 'n1', 'web'), value: spec('2') },
    ]);
    let text = '';
    await executeAgent(
      fileAgent(dir),
      store,
      silentLogger(),
      onceOptions({
        once: false,
        dryRun: true,
        out: (t) => {
          text += t;
        },
      }),
    );
    expect(text).not.toContain('nothing would be done');
    expect(text).toContain('web@2: write web=2\n');
    expect(text).toMatch(/^! the node is marked drained yet still has app keys \(web\)/);
    expect(text).toMatch(/\nold: held: remove old \(removal waits: the node is marked drained .*\)\n/);
  });
});

/** An agent written with no safety call at all: it removes every file intent does not name. */
function carelessAgent(dir: string): Agent<string[], { kind: 'delete'; app: string }> {
  return {
    name: 'pp-careless',
    observe: async () => (await readdir(dir)).sort(),
    plan: (intent: NodeIntent, present: string[]) =>
      present.filter((f) => !intent.apps.has(f)).map((app) => ({ app, actions: [{ kind: 'delete' as const, app }] })),
    removals: ['delete'],
    apply: async ({ app }) => {
      await rm(join(dir, app));
      return { changed: true };
    },
    describe: ({ app }) => `delete ${app}`,
  };
}

describe('removal safety belongs to the loop', () => {
  it("holds an agent's removals on untrusted intent and without a signed removal, though its plan checks nothing", async () => {
    const { store, dir, execute, root } = await node();
    for (const f of ['a', 'b', 'c']) await writeFile(join(dir, f), f);
    // Empty and not drained: a store fault, perhaps.
    await execute(carelessAgent(dir), 'once');
    expect(Object.keys(await files(dir)).sort()).toEqual(['a', 'b', 'c']);
    const reason = JSON.parse((await store.get(realityKey('p', 'n1', 'pp-careless', 'a')))!).reason as string;
    expect(reason).toMatch(/^removal waits: node intent is empty and not marked drained/);
    // A drained marker beside an app key: a drain half done.
    await store.transaction([
      { key: drainedKey('p', 'n1'), value: '{}' },
      { key: appIntentKey('p', 'n1', 'a'), value: spec('1') },
    ]);
    await execute(carelessAgent(dir), 'once');
    expect(Object.keys(await files(dir)).sort()).toEqual(['a', 'b', 'c']);
    // With --trusted-signers, only a signed order removes; an unsigned intent is nothing to act on.
    const signed = await node(true);
    for (const f of ['a', 'b']) await writeFile(join(signed.dir, f), f);
    await putIntent(signed.store, 'p', 'n1', 'a', spec('1'), signed.sign);
    await signed.execute(carelessAgent(signed.dir), 'once');
    expect(Object.keys(await files(signed.dir)).sort()).toEqual(['a', 'b']);
    await removeIntent(signed.store, 'p', 'n1', 'a', signed.sign);
    await signed.execute(carelessAgent(signed.dir), 'once');
    expect(Object.keys(await files(signed.dir)).sort()).toEqual(['b']);
    // Trusted intent without signatures: what it does not name goes.
    await store.transaction([{ key: drainedKey('p', 'n1'), value: null }]);
    await execute(carelessAgent(dir), 'once');
    expect(Object.keys(await files(dir)).sort()).toEqual(['a']);
    await rm(root, { recursive: true, force: true });
  });
});
