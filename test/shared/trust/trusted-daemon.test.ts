import { mkdtempSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { putIntent, removeIntent } from '../../../pp/intent-commands.js';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { ProcessState } from '../../../shared/loop/agent-state.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { TrustGate } from '../../../shared/trust/gate.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, eventually, uniquePrefix } from '../../support/intent-fixtures.js';
import { makeSshKey, type SshKey } from '../../support/ssh-keys.js';

let dir: string;
let alice: SshKey;
let signers: string;
let store: ConsulStore;
const prefix = uniquePrefix('trusted-daemon');
const node = 'n1';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pp-trusted-daemon-'));
  alice = makeSshKey(dir, 'alice');
  signers = join(dir, 'allowed_signers');
  writeFileSync(signers, `alice@example ${alice.publicKey}\n`);
  store = new ConsulStore(consulConfigFrom(inject('consulAddress')));
});
afterAll(() => store.close());

const files = async (d: string) =>
  Object.fromEntries(await Promise.all((await readdir(d).catch(() => [])).map(async (f) => [f, await readFile(join(d, f), 'utf8')])));
const reality = async (app: string) => JSON.parse((await store.get(realityKey(prefix, node, 'pp-files', app))) ?? 'null');
const spec = (live: string) => JSON.stringify(appIntent(live));

describe('an agent daemon with --trusted-signers on Consul', () => {
  it('recalls what it accepted (its state) before judging intent, converges signed changes as they come, keeps what vanished', async () => {
    const out = join(dir, 'files');
    const sign = { keyPath: alice.path };
    // What an earlier run of this agent accepted for web, as its state file gives it back: a spec signed a minute ago.
    const accepted = new Date(Date.now() - 60_000).toISOString();
    await putIntent(store, prefix, node, 'web', spec('0.9'), { ...sign, at: new Date(Date.now() - 120_000) });
    await putIntent(store, prefix, node, 'api', spec('2.0'), sign);
    const abort = new AbortController();
    const running = runAgent(fileAgent(out), {
      store,
      prefix,
      node,
      log: silentLogger(),
      signal: abort.signal,
      resyncMs: 3_600_000,
      trust: TrustGate.fromFile(signers),
      state: new ProcessState({ trust: [['web', { at: accepted }]] }),
    });
    try {
      await eventually(async () => (await files(out)).api === '2.0', 20_000, 'api=2.0');
      await eventually(async () => /refused as a rollback/.test((await reality('web'))?.error ?? ''), 20_000, 'web refused as a rollback');
      expect((await files(out)).web).toBeUndefined();
      await putIntent(store, prefix, node, 'web', spec('1.0'), sign);
      await eventually(async () => (await files(out)).web === '1.0', 20_000, 'web=1.0');
      await store.delete(appIntentKey(prefix, node, 'api'));
      await eventually(async () => /no signed removal of it/.test((await reality('api'))?.error ?? ''), 20_000, 'api kept and reported');
      expect((await files(out)).api).toBe('2.0');
      await putIntent(store, prefix, node, 'api', spec('2.1'), sign);
      await eventually(async () => (await files(out)).api === '2.1', 20_000, 'api=2.1');
      await removeIntent(store, prefix, node, 'api', sign);
      await eventually(async () => !('api' in (await files(out))), 20_000, 'api removed');
      await eventually(async () => (await reality('api'))?.signed?.removed === true, 20_000, 'api removal recorded');
    } finally {
      abort.abort();
      await running;
    }
  });
});
