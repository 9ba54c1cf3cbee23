import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { drainNodes, putIntent, removeIntent } from '../../../pp/intent-commands.js';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { nodeIntentFromSnapshot } from '../../../shared/intent/node-intent.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { AgentStateFile, type AgentStateStore } from '../../../shared/loop/agent-state.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import type { IntentStore } from '../../../shared/store/types.js';
import { parseAllowedSigners } from '../../../shared/trust/allowed-signers.js';
import {
  ENVELOPE_FORMAT,
  readStoredValue,
  SIGN_NAMESPACE,
  type SignedOrder,
  signDrain,
  signedMessage,
  signIntent,
  verifyOrder,
} from '../../../shared/trust/envelope.js';
import { TrustGate } from '../../../shared/trust/gate.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, onceOptions } from '../../support/intent-fixtures.js';
import { makeSshKey, type SshKey, sshKeygenSignDirect, sshKeygenVerify } from '../../support/ssh-keys.js';

let keys: string;
let alice: SshKey;
let mallory: SshKey;
let signersFile: string;

beforeAll(() => {
  keys = mkdtempSync(join(tmpdir(), 'pp-trust-keys-'));
  alice = makeSshKey(keys, 'alice');
  mallory = makeSshKey(keys, 'mallory');
  signersFile = join(keys, 'allowed_signers');
  writeFileSync(signersFile, `alice@example namespaces="${SIGN_NAMESPACE}" ${alice.publicKey}\n`);
});

const spec = (live: string) => JSON.stringify(appIntent(live));
const orderOf = (value: string) => {
  const stored = readStoredValue(value);
  if (stored.form !== 'signed') throw new Error(`not signed: ${value}`);
  return stored.order;
};

describe('signed envelopes', () => {
  it('bind app, nodes, spec and time; verify with node:crypto and with the real ssh-keygen -Y verify', async () => {
    const value = await signIntent('p', 'web', ['n2', 'n1'], spec('1.0'), { keyPath: alice.path, at: new Date('2026-01-01T00:00:00Z') });
    const order = orderOf(value);
    expect(order).toMatchObject({
      platypus: ENVELOPE_FORMAT,
      kind: 'intent',
      app: 'web',
      nodes: ['n1', 'n2'],
      signedAt: '2026-01-01T00:00:00.000Z',
    });
    const signers = parseAllowedSigners(`alice@example ${alice.publicKey}`);
    const now = new Date('2026-01-02T00:00:00Z');
    expect(verifyOrder(order, { kind: 'intent', prefix: 'p', node: 'n1', app: 'web' }, signers, now).signer).toMatch(
      /^alice@example \(SHA256:/,
    );
    // What pp signed verifies with ssh-keygen itself.
    const sigFile = join(keys, 'order.sig');
    writeFileSync(sigFile, order.signature);
    expect(sshKeygenVerify(signersFile, 'alice@example', SIGN_NAMESPACE, sigFile, signedMessage(order)).code).toBe(0);
    const fail = (o: SignedOrder, expect: { node: string; app: string }) => {
      try {
        verifyOrder(o, { kind: 'intent', prefix: 'p', ...expect }, signers, now);
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(fail({ ...order, spec: JSON.parse(spec('6.6')) }, { node: 'n1', app: 'web' })).toMatch(/does not match the signed content/);
    expect(fail({ ...order, nodes: ['n1', 'n2', 'n3'] }, { node: 'n3', app: 'web' })).toMatch(/does not match the signed content/);
    expect(fail({ ...order, signedAt: '2026-01-01T12:00:00.000Z' }, { node: 'n1', app: 'web' })).toMatch(/does not match/);
    expect(fail(order, { node: 'n1', app: 'api' })).toBe('signed for app "web", not "api"');
    expect(fail(order, { node: 'n3', app: 'web' })).toBe('signed for nodes n1,n2, which do not include n3');
    const future = orderOf(
      await signIntent('p', 'web', ['n1'], spec('1.0'), { keyPath: alice.path, at: new Date('2026-01-03T00:00:00Z') }),
    );
    expect(fail(future, { node: 'n1', app: 'web' })).toMatch(/in the future of this node's clock/);
  });

  it('accepts an envelope whose signature the real ssh-keygen -Y sign made', () => {
    const unsigned: Omit<SignedOrder, 'signature'> = {
      platypus: ENVELOPE_FORMAT,
      kind: 'intent',
      prefix: 'p',
      app: 'web',
      nodes: ['n1'],
      signedAt: '2026-01-01T00:00:00.000Z',
      spec: JSON.parse(spec('1.0')) as unknown,
    };
    const signature = sshKeygenSignDirect(alice.path, SIGN_NAMESPACE, signedMessage(unsigned));
    const order = orderOf(JSON.stringify({ ...unsigned, signature }));
    const signers = parseAllowedSigners(`alice@example ${alice.publicKey}`);
    expect(() =>
      verifyOrder(order, { kind: 'intent', prefix: 'p', node: 'n1', app: 'web' }, signers, new Date('2026-01-01T00:00:01Z')),
    ).not.toThrow();
  });

  it('a gate judging the node again (as a daemon does on every change) still binds each value to its key', async () => {
    const gate = TrustGate.fromFile(signersFile);
    const web = await signIntent('p', 'web', ['n1'], spec('1.0'), { keyPath: alice.path });
    const judge = (entries: Record<string, string>) =>
      nodeIntentFromSnapshot('p', 'n1', { index: 1, entries: Object.entries(entries).map(([key, value]) => ({ key, value })) }, gate);
    expect([...judge({ 'p/intent/n1/web': web }).apps.keys()]).toEqual(['web']);
    const again = judge({ 'p/intent/n1/web': web, 'p/intent/n1/api': web });
    expect([...again.apps.keys()]).toEqual(['web']);
    expect(again.invalid.get('api')).toMatch(/signed for app "web", not "api"/);
    const tampered = JSON.stringify({ ...orderOf(web), spec: JSON.parse(spec('6.6')) });
    expect(judge({ 'p/intent/n1/web': tampered }).invalid.get('web')).toMatch(/does not match the signed content/);
  });

  it('names what is wrong with a broken envelope', () => {
    expect(readStoredValue(JSON.stringify({ platypus: ENVELOPE_FORMAT, kind: 'intent', app: 'web', nodes: [] }))).toEqual({
      form: 'broken',
      error: 'signed envelope: field nodes: expected a non-empty list of node names',
    });
    expect(readStoredValue(spec('1.0')).form).toBe('plain');
  });
});

const options = (trust?: TrustGate, state?: AgentStateStore) => onceOptions({ trust, state });
const files = async (dir: string) =>
  Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])));
const reality = async (store: IntentStore, app: string) => JSON.parse((await store.get(realityKey('p', 'n1', 'pp-files', app))) ?? 'null');

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'pp-trusted-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'files');
  const gate = TrustGate.fromFile(signersFile);
  const stateFile = join(root, 'state', 'pp-files.json');
  const state = () => new AgentStateFile(stateFile, { agent: 'pp-files', node: 'n1', prefix: 'p', store: store.description });
  // A fresh gate and agent each run, as an agent restarted each time: what it accepted comes back from its state file.
  const run = (trust = true) =>
    executeAgent(fileAgent(dir), store, silentLogger(), options(trust ? TrustGate.fromFile(signersFile) : undefined, state()));
  const sign = { keyPath: alice.path };
  await putIntent(store, 'p', 'n1,n2', 'web', spec('1.0'), sign);
  await putIntent(store, 'p', 'n1', 'api', spec('2.0'), sign);
  expect(await run()).toBe(0);
  expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
  return { store, dir, run, sign, gate, state, stateFile };
}

describe('agents with --trusted-signers', () => {
  it('without the flag, signed and plain specs both work and a signed removal removes', async () => {
    const { store, dir, run, sign } = await setup();
    await store.put(appIntentKey('p', 'n1', 'api'), spec('2.1'));
    expect(await run(false)).toBe(0);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.1' });
    await removeIntent(store, 'p', 'n1', 'web', sign);
    expect(await run(false)).toBe(0);
    expect(await files(dir)).toEqual({ api: '2.1' });
  });

  it('refuses unsigned, tampered, wrong-app, wrong-node and unknown-key specs like invalid intent; other apps converge', async () => {
    const { store, dir, run, sign } = await setup();
    const webKey = appIntentKey('p', 'n1', 'web');
    const apiKey = appIntentKey('p', 'n1', 'api');
    const cases: Array<[string, () => Promise<void>, RegExp]> = [
      [
        'unsigned',
        () => store.put(apiKey, spec('9.0')),
        /refused by --trusted-signers .*: not signed \(write it with pp intent put --sign-key\)/,
      ],
      [
        'tampered',
        async () => {
          const order = orderOf((await store.get(apiKey))!);
          await store.put(apiKey, JSON.stringify({ ...order, spec: JSON.parse(spec('9.0')) }));
        },
        /the signature does not match the signed content/,
      ],
      ['wrong app', async () => store.put(apiKey, (await store.get(webKey))!), /signed for app "web", not "api"/],
      [
        'wrong node',
        async () => store.put(apiKey, await signIntent('p', 'api', ['n2'], spec('9.0'), sign)),
        /signed for nodes n2, which do not include n1/,
      ],
      [
        'unknown key',
        async () => store.put(apiKey, await signIntent('p', 'api', ['n1'], spec('9.0'), { keyPath: mallory.path })),
        /signed by a key not in the trusted signers \(SHA256:/,
      ],
    ];
    const good = (await store.get(apiKey))!;
    let web = 1;
    for (const [what, write, error] of cases) {
      await store.put(apiKey, good);
      await putIntent(store, 'p', 'n1', 'web', spec(`1.${web}`), sign);
      await write();
      expect(await run(), what).toBe(1);
      expect(await files(dir), what).toEqual({ web: `1.${web}`, api: '2.0' });
      const api = await reality(store, 'api');
      expect(api.status, what).toBe('failed');
      expect(api.error, what).toMatch(error);
      expect(api.error, what).toContain(`invalid intent at key ${apiKey}`);
      web += 1;
    }
  });

  it('refuses an older signed spec than the newest accepted, across restarts', async () => {
    const { store, dir, run, sign } = await setup();
    const webKey = appIntentKey('p', 'n1', 'web');
    const old = (await store.get(webKey))!;
    await putIntent(store, 'p', 'n1', 'web', spec('1.1'), sign);
    expect(await run()).toBe(0);
    const accepted = await reality(store, 'web');
    expect(accepted.memory.signed).toMatchObject({ at: orderOf((await store.get(webKey))!).signedAt, removed: false });
    expect(accepted.signed).toEqual(accepted.memory.signed); // where readers of the release before look
    await store.put(webKey, old);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.1', api: '2.0' });
    expect((await reality(store, 'web')).error).toMatch(
      /older than the newest order this agent accepted for app web .*: refused as a rollback/,
    );
  });

  it('keeps and reports an app whose key vanished; removes it on a signed removal; refuses a replay after that', async () => {
    const { store, dir, run, sign } = await setup();
    const apiKey = appIntentKey('p', 'n1', 'api');
    const old = (await store.get(apiKey))!;
    await store.delete(apiKey);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
    expect((await reality(store, 'api')).error).toMatch(/no intent at key p\/intent\/n1\/api and no signed removal of it: .*kept as it is/);
    // An unsigned removal is no order either.
    await store.put(apiKey, old);
    expect(await run()).toBe(0);
    await removeIntent(store, 'p', 'n1', 'api');
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
    await store.put(apiKey, old);
    await removeIntent(store, 'p', 'n1', 'api', sign);
    expect(await run()).toBe(0);
    expect(await files(dir)).toEqual({ web: '1.0' });
    expect(await reality(store, 'api')).toMatchObject({ status: 'converged', signed: { removed: true } });
    // Last month's signed spec written back is older than the removal: refused, after a restart too.
    await store.put(apiKey, old);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0' });
    expect((await reality(store, 'api')).error).toMatch(/\(a removal signed at .*\): refused as a rollback/);
  });

  it('refuses a drain signed before the spec it would remove, and acts on nothing while its state file cannot be read', async () => {
    const { store, dir, sign, run, stateFile } = await setup();
    const early = new Date(Date.now() - 60_000);
    const oldDrain = await signDrain('p', ['n1'], { ...sign, at: early });
    await drainNodes(store, 'p', 'n1');
    await store.put(drainedKey('p', 'n1'), oldDrain);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
    expect((await reality(store, 'web')).error).toMatch(/the signed drain of .* is older than its spec .*: refused as a rollback/);
    // A state file that cannot be read: no signed order can be told from a replay, so the agent does not start.
    await putIntent(store, 'p', 'n1', 'web', spec('1.5'), sign);
    await writeFile(stateFile, '{"format": "platypus-agent-state/1", "trust": [');
    await expect(run()).rejects.toThrow(/state file .*pp-files.json: not valid JSON .*move it away/);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
  });

  it('drains a node only on a signed drain order', async () => {
    const { store, dir, run, sign } = await setup();
    await drainNodes(store, 'p', 'n1');
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
    expect((await reality(store, 'web')).error).toMatch(/the drain marker p\/intent\/n1\/.drained is not signed/);
    await drainNodes(store, 'p', 'n1', sign);
    expect(orderOf((await store.get(drainedKey('p', 'n1')))!)).toMatchObject({ kind: 'drain', nodes: ['n1'] });
    expect(await run()).toBe(0);
    expect(await files(dir)).toEqual({});
  });
});
