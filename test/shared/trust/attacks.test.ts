import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { drainNodes, putIntent } from '../../../pp/intent-commands.js';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { validateAppIntent } from '../../../shared/intent/validate.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { AgentStateFile } from '../../../shared/loop/agent-state.js';
import { stableJson } from '../../../shared/stable-json.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { parseAllowedSigners } from '../../../shared/trust/allowed-signers.js';
import { readStoredValue, SIGN_NAMESPACE, signDrain, signIntent } from '../../../shared/trust/envelope.js';
import { TrustGate } from '../../../shared/trust/gate.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, onceOptions } from '../../support/intent-fixtures.js';
import { makeSshKey, type SshKey } from '../../support/ssh-keys.js';

/** The attacks of a session against --trusted-signers, each replayed against the real ssh-keygen's signatures. */

let keys: string;
let alice: SshKey;
let signersFile: string;
const DAY = 86_400_000;

beforeAll(() => {
  keys = mkdtempSync(join(tmpdir(), 'pp-attack-keys-'));
  alice = makeSshKey(keys, 'alice');
  signersFile = join(keys, 'allowed_signers');
  writeFileSync(signersFile, `alice@example namespaces="${SIGN_NAMESPACE}" ${alice.publicKey}\n`);
});

const spec = (live: string, env: Record<string, string> = {}) =>
  JSON.stringify(appIntent(live, { service: { command: ['bin/server'], env } }));
const files = async (dir: string) =>
  Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])));

async function node(prefix = 'p', maxAgeMs?: number) {
  const root = await mkdtemp(join(tmpdir(), 'pp-attack-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'files');
  const stateFile = join(root, 'state', 'pp-files.json');
  const run = (trusting = true) =>
    executeAgent(fileAgent(dir), store, silentLogger(), {
      ...onceOptions({ prefix }),
      trust: trusting ? TrustGate.fromFile(signersFile, undefined, maxAgeMs) : undefined,
      state: new AgentStateFile(stateFile, { agent: 'pp-files', node: 'n1', prefix, store: store.description }),
    });
  const reality = async (app: string) => JSON.parse((await store.get(realityKey(prefix, 'n1', 'pp-files', app))) ?? 'null');
  return { store, dir, run, reality, sign: { keyPath: alice.path } };
}

describe('signed intent under attack', () => {
  it('canonical JSON covers a key named __proto__: an env variable added to a signed spec breaks its signature', async () => {
    expect(stableJson(JSON.parse('{"b":1,"__proto__":{"x":1}}'))).toBe('{"__proto__":{"x":1},"b":1}');
    const { store, run, reality, sign } = await node();
    await putIntent(store, 'p', 'n1', 'web', spec('1.0', { A: '1' }), sign);
    expect(await run()).toBe(0);
    const key = appIntentKey('p', 'n1', 'web');
    const bent = (await store.get(key))!.replace('"env":{"A":"1"}', '"env":{"A":"1","__proto__":"evil"}');
    expect(bent).toContain('__proto__');
    // The spec parser keeps it as a variable: it would reach the run script if the signature let it through.
    const order = readStoredValue(bent);
    if (order.form !== 'signed') throw new Error('not an envelope');
    const parsed = validateAppIntent('k', 'web', JSON.stringify(order.order.spec));
    expect(parsed.ok && Object.keys(parsed.intent.service?.env ?? {})).toEqual(['A', '__proto__']);
    await store.put(key, bent);
    expect(await run()).toBe(1);
    expect((await reality('web')).error).toMatch(/does not match the signed content/);
  });

  it('forged memory in reality neither removes an app nor freezes it: the agent remembers in its own state file', async () => {
    const { store, dir, run, reality, sign } = await node();
    await putIntent(store, 'p', 'n1', 'web', spec('1.0'), sign);
    await putIntent(store, 'p', 'n1', 'api', spec('2.0'), sign);
    expect(await run()).toBe(0);
    // signed.removed on web's record plus its key deleted; signed.at far ahead on api's; a record under a name of its own.
    const record = (app: string, signed: object) =>
      JSON.stringify({ agent: 'pp-files', app, status: 'converged', attempts: 0, at: new Date().toISOString(), signed });
    await store.put(realityKey('p', 'n1', 'pp-files', 'web'), record('web', { at: new Date().toISOString(), removed: true }));
    await store.put(realityKey('p', 'n1', 'pp-files', 'other'), record('web', { at: new Date().toISOString(), removed: true }));
    await store.put(realityKey('p', 'n1', 'pp-files', 'api'), record('api', { at: '9999-01-01T00:00:00.000Z' }));
    await store.delete(appIntentKey('p', 'n1', 'web'));
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
    expect((await reality('web')).error).toMatch(/no signed removal of it/);
    await putIntent(store, 'p', 'n1', 'api', spec('2.1'), sign);
    await putIntent(store, 'p', 'n1', 'web', spec('1.1'), sign);
    expect(await run()).toBe(0);
    expect(await files(dir)).toEqual({ web: '1.1', api: '2.1' });
  });

  it('binds an order to the prefix it was signed for', async () => {
    const { store, run, reality, sign, dir } = await node('platypus');
    await putIntent(store, 'platypus', 'n1', 'web', spec('1.0'), sign);
    expect(await run()).toBe(0);
    await putIntent(store, 'staging', 'n1', 'web', spec('6.6'), sign);
    await store.put(appIntentKey('platypus', 'n1', 'web'), (await store.get(appIntentKey('staging', 'n1', 'web')))!);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0' });
    expect((await reality('web')).error).toMatch(/signed for prefix "staging", not "platypus"/);
  });

  it('refuses a different order signed at the same instant as the accepted one', async () => {
    const { store, run, reality, sign, dir } = await node();
    const at = new Date(Date.now() - 60_000);
    const accepted = spec('1.0');
    await putIntent(store, 'p', 'n1', 'web', accepted, { ...sign, at });
    expect(await run()).toBe(0);
    await putIntent(store, 'p', 'n1', 'web', spec('6.6'), { ...sign, at });
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0' });
    expect((await reality('web')).error).toMatch(/the same instant as the order this agent accepted .* not the same order/);
    // The very same order again is fine.
    await putIntent(store, 'p', 'n1', 'web', accepted, { ...sign, at });
    expect(await run()).toBe(0);
  });

  it('with --max-order-age-days, refuses an old order for an app it never accepted one for; an app it knows takes newer ones', async () => {
    const { store, run, reality, sign, dir } = await node('p', 30 * DAY);
    await putIntent(store, 'p', 'n1', 'web', spec('1.0'), { ...sign, at: new Date(Date.now() - 400 * DAY) });
    await putIntent(store, 'p', 'n1', 'api', spec('2.0'), { ...sign, at: new Date(Date.now() - 40 * DAY) });
    expect(await run()).toBe(1);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    expect((await reality('web')).error).toMatch(
      /400 days ago: this agent has accepted no order for app web yet .*--max-order-age-days 30/,
    );
    await putIntent(store, 'p', 'n1', 'web', spec('1.1'), sign);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.1' });
  });

  it('never acts on a drain signed before the app was first seen on this node', async () => {
    const { store, run, reality, sign, dir } = await node();
    const oldDrain = await signDrain('p', ['n1'], { ...sign, at: new Date(Date.now() - 3 * DAY) });
    // The app ran here before signatures were required: the agent saw it, and accepted no signed order for it.
    await putIntent(store, 'p', 'n1', 'web', spec('1.0'));
    expect(await run(false)).toBe(0);
    await drainNodes(store, 'p', 'n1');
    await store.put(drainedKey('p', 'n1'), oldDrain);
    expect(await run()).toBe(1);
    expect(await files(dir)).toEqual({ web: '1.0' });
    expect((await reality('web')).error).toMatch(/before this agent first saw app web intended on this node/);
  });

  it('reads allowed_signers as ssh-keygen does: no duplicate clauses, quoted values, no byte-order mark, real dates', () => {
    const key = alice.publicKey;
    const refused = (line: string) => () => parseAllowedSigners(line, 'f');
    expect(refused(`a valid-before="20200101",valid-before="20990101" ${key}`)).toThrow(/f:1: multiple "valid-before" clauses/);
    expect(refused(`a namespaces="git",namespaces="platypus-intent" ${key}`)).toThrow(/multiple "namespaces" clauses/);
    expect(refused(`a valid-before=20990101 ${key}`)).toThrow(/the value must be in double quotes/);
    expect(refused(`a namespaces=platypus-intent ${key}`)).toThrow(/the value must be in double quotes/);
    expect(refused(`\ufeffa ${key}`)).toThrow(/byte-order mark/);
    expect(refused(`a valid-before="20260230" ${key}`)).toThrow(/not a date/);
    expect(parseAllowedSigners(`a VALID-BEFORE="20990101" ${key}`, 'f')[0]!.validBefore?.getFullYear()).toBe(2099);
  });

  it('a value that names the envelope format but is not JSON is a broken envelope, not an unsigned spec', async () => {
    const value = await signIntent('p', 'web', ['n1'], spec('1.0'), { keyPath: alice.path });
    expect(readStoredValue(`\ufeff${value}`)).toEqual({ form: 'broken', error: 'signed envelope: starts with a byte-order mark' });
    expect(readStoredValue(`${value}xx`)).toMatchObject({
      form: 'broken',
      error: expect.stringMatching(/^signed envelope: not valid JSON/),
    });
  });
});
