import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainNodes, putIntent, removeIntent } from '../../pp/intent-commands.js';
import { CliError } from '../../pp/read-spec.js';
import { signedOnlyAgents } from '../../pp/signing.js';
import { appIntentKey, heartbeatKey } from '../../shared/keys.js';
import { silentLogger } from '../../shared/logger.js';
import { parseHeartbeat } from '../../shared/loop/heartbeat.js';
import { runAgent } from '../../shared/loop/run-agent.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import { readStoredValue } from '../../shared/trust/envelope.js';
import { TrustGate } from '../../shared/trust/gate.js';
import { fileAgent } from '../support/file-agent.js';
import { appIntent, eventually } from '../support/intent-fixtures.js';
import { makeSshKey, type SshKey } from '../support/ssh-keys.js';

let root: string;
let alice: SshKey;
let signers: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pp-signed-only-'));
  alice = makeSshKey(root, 'alice');
  signers = join(root, 'allowed_signers');
  writeFileSync(signers, `alice@example ${alice.publicKey}\n`);
});
afterAll(() => rm(root, { recursive: true, force: true }));

const prefix = 'p';
const spec = (live: string) => JSON.stringify(appIntent(live));
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err as CliError,
  );

/** A running daemon of the test agent on `node`, with --trusted-signers or without, beating every second. */
async function daemon(store: FolderStore, node: string, trusted: boolean) {
  const dir = join(root, `files-${node}`);
  await mkdir(dir, { recursive: true });
  const abort = new AbortController();
  const running = runAgent(fileAgent(dir), {
    store,
    prefix,
    node,
    log: silentLogger(),
    signal: abort.signal,
    heartbeatMs: 1000,
    resyncMs: 3_600_000,
    ...(trusted ? { trust: TrustGate.fromFile(signers) } : {}),
  });
  const beat = async () => parseHeartbeat((await store.get(heartbeatKey(prefix, node, 'pp-files'))) ?? '');
  await eventually(async () => (await beat()) !== undefined, 20_000, `${node}'s heartbeat`);
  return {
    beat,
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

describe('pp intent put, rm and drain beside agents that act only on signed intent', () => {
  it("refuse unsigned intent to a node whose running agent's heartbeat says so, naming node and agent; sign it and it is written", async () => {
    const store = new FolderStore(join(root, 'store'));
    await putIntent(store, prefix, 'n1,n2', 'web', spec('1.0'), { keyPath: alice.path });
    const trusted = await daemon(store, 'n1', true);
    const plain = await daemon(store, 'n2', false);
    try {
      expect(await trusted.beat()).toMatchObject({ agent: 'pp-files', requiresSignatures: true });
      expect((await plain.beat())!.requiresSignatures).toBeUndefined();
      const before = (await store.read(`${prefix}/intent/`)).entries;

      const put = await refusal(putIntent(store, prefix, 'n2,n1', 'web', spec('2.0')));
      expect(put).toBeInstanceOf(CliError);
      expect(put!.exitCode).toBe(2);
      expect(put!.message).toBe(
        'refused to write unsigned intent to node n1 (agent pp-files): their heartbeats say they run with --trusted-signers and act only on signed intent; sign it with --sign-key KEY (nothing written)',
      );
      expect((await refusal(removeIntent(store, prefix, 'n1', 'web')))?.message).toMatch(
        /^refused to write unsigned intent to node n1 \(agent pp-files\)/,
      );
      expect((await refusal(drainNodes(store, prefix, 'n1,n2')))?.exitCode).toBe(2);
      // Not even the node whose agent would take it is written: the command writes all its nodes or none.
      expect((await store.read(`${prefix}/intent/`)).entries).toEqual(before);

      const v2 = spec('2.0');
      await putIntent(store, prefix, 'n2', 'web', v2);
      expect(await store.get(appIntentKey(prefix, 'n2', 'web'))).toBe(v2);
      await putIntent(store, prefix, 'n1', 'web', v2, { keyPath: alice.path });
      expect(readStoredValue((await store.get(appIntentKey(prefix, 'n1', 'web')))!).form).toBe('signed');

      // A cleanly stopped agent says so in its heartbeat: it no longer holds unsigned intent back.
      await trusted.stop();
      expect((await trusted.beat())!.stopped).toBe(true);
      await putIntent(store, prefix, 'n1', 'web', spec('3.0'));
    } finally {
      await trusted.stop();
      await plain.stop();
    }
  });

  it('counts only heartbeats of running agents: not a stopped one, not one silent for 3 of its intervals (a minute at least)', () => {
    const now = Date.parse('2026-12-02T08:00:00Z');
    const beat = (agent: string, fields: Record<string, unknown>) => ({
      key: heartbeatKey(prefix, 'n1', agent),
      value: JSON.stringify({
        agent,
        node: 'n1',
        startedAt: '2026-12-01T00:00:00Z',
        host: 'h',
        pid: 1,
        requiresSignatures: true,
        ...fields,
      }),
    });
    const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();
    const entries = [
      beat('setlive', { at: at(899), everySeconds: 300 }),
      beat('preparer', { at: at(901), everySeconds: 300 }),
      beat('iptables', { at: at(30), everySeconds: 300, stopped: true }),
      beat('fast', { at: at(59), everySeconds: 1 }),
      beat('gone', { at: at(61), everySeconds: 1 }),
      beat('plain', { at: at(1), everySeconds: 300, requiresSignatures: undefined }),
      { key: `${prefix}/reality/n1/setlive/web`, value: JSON.stringify({ requiresSignatures: true, at: at(1), everySeconds: 1 }) },
    ];
    expect(signedOnlyAgents(prefix, 'n1', entries, now)).toEqual(['fast', 'setlive']);
  });
});
