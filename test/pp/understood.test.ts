import { mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHeartbeats } from '../../pp/heartbeats.js';
import { putIntent } from '../../pp/intent-commands.js';
import { CliError } from '../../pp/read-spec.js';
import { notUnderstood, refuseNotUnderstood } from '../../pp/understood.js';
import { SECTION_NAMES } from '../../shared/intent/sections.js';
import { appIntentKey, heartbeatKey, realityPrefix } from '../../shared/keys.js';
import { silentLogger } from '../../shared/logger.js';
import { type HeartbeatRecord, parseHeartbeat } from '../../shared/loop/heartbeat.js';
import { runAgent } from '../../shared/loop/run-agent.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import { fileAgent } from '../support/file-agent.js';
import { appIntent, eventually } from '../support/intent-fixtures.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const prefix = 'p';
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pp-understood-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err as CliError,
  );

/** Every section, as a spec an operator may write. */
const fullSpec = () =>
  JSON.stringify(
    appIntent('1.0', {
      health: { http: 'http://127.0.0.1:8080/health' },
      requires: ['db'],
      rollout: { maxParallel: 2 },
    }),
  );

describe('pp intent put beside agents that say in their heartbeats which sections they understand (folder store)', () => {
  it("writes every section to a node whose running agent's heartbeat lists them; refuses one an agent there does not list, unless --force", async () => {
    const store = new FolderStore(join(root, 'store'));
    const dir = join(root, 'files');
    await mkdir(dir, { recursive: true });
    const abort = new AbortController();
    const running = runAgent(fileAgent(dir), {
      store,
      prefix,
      node: 'n1',
      log: silentLogger(),
      signal: abort.signal,
      heartbeatMs: 1000,
      resyncMs: 3_600_000,
    });
    const beat = async () => parseHeartbeat((await store.get(heartbeatKey(prefix, 'n1', 'pp-files'))) ?? '');
    try {
      await eventually(async () => (await beat()) !== undefined, 20_000, "pp-files's heartbeat");
      const real = (await beat())!;
      expect(real).toMatchObject({ agent: 'pp-files', version: VERSION, sections: SECTION_NAMES });

      const keys = await putIntent(store, prefix, 'n1', 'web', fullSpec());
      expect(keys).toEqual([appIntentKey(prefix, 'n1', 'web')]);

      // An agent of an older Platypus, whose heartbeat lists no sections, understands the sections of 0.1.0.
      const { sections: _, version: __, ...oldFormat } = real;
      await store.put(heartbeatKey(prefix, 'n1', 'old'), JSON.stringify({ ...oldFormat, agent: 'old', at: new Date().toISOString() }));
      await putIntent(store, prefix, 'n1', 'web', fullSpec());

      // An agent built against fewer sections (only the core and ports): it would refuse the whole app.
      const narrow: HeartbeatRecord = {
        ...real,
        agent: 'narrow',
        version: '0.0.9',
        sections: ['schema', 'basedir', 'versions', 'ports'],
        at: new Date().toISOString(),
      };
      await store.put(heartbeatKey(prefix, 'n1', 'narrow'), JSON.stringify(narrow));
      const before = (await store.read(`${prefix}/intent/`)).entries;
      const api = fullSpec();
      const refused = await refusal(putIntent(store, prefix, 'n1', 'api', api));
      expect(refused).toBeInstanceOf(CliError);
      expect(refused!.exitCode).toBe(2);
      expect(refused!.message).toBe(
        'refused to write intent that agents would refuse: node n1: agent narrow 0.0.9 does not understand sections service (introduced in 0.1.0), health (introduced in 0.1.0), requires (introduced in 0.1.0), rollout (introduced in 0.1.0); upgrade those agents first (or start them, so that their heartbeats say what they understand), or pass --force to write it anyway (nothing written)',
      );
      expect((await store.read(`${prefix}/intent/`)).entries).toEqual(before);

      await putIntent(store, prefix, 'n1', 'api', api, undefined, true);
      expect(await store.get(appIntentKey(prefix, 'n1', 'api'))).toBe(api);

      // A cleanly stopped agent no longer holds sections back.
      await store.put(heartbeatKey(prefix, 'n1', 'narrow'), JSON.stringify({ ...narrow, stopped: true }));
      await putIntent(store, prefix, 'n1', 'cache', fullSpec());
      await store.put(heartbeatKey(prefix, 'n1', 'old'), JSON.stringify({ ...oldFormat, agent: 'old', stopped: true }));
    } finally {
      abort.abort();
      await running;
    }
    // The real agent stopped cleanly too: n1 has no running agent now, and the sections of 0.1.0 are still written.
    expect((await beat())!.stopped).toBe(true);
    await putIntent(store, prefix, 'n1', 'web', fullSpec());
  });
});

describe('what the agents of a node would not understand, by their heartbeats', () => {
  const now = Date.parse('2026-12-02T08:00:00Z');
  const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();
  const beats = (list: Array<[string, Partial<HeartbeatRecord>]>) =>
    nodeHeartbeats(
      prefix,
      'n1',
      list.map(([agent, fields]) => ({
        key: heartbeatKey(prefix, 'n1', agent),
        value: JSON.stringify({ agent, node: 'n1', startedAt: at(3600), everySeconds: 300, host: 'h', pid: 1, at: at(1), ...fields }),
      })),
    );

  it('counts running agents only, each by the sections its heartbeat lists (an old one: the baseline), in agent order', () => {
    const found = beats([
      ['setlive', { version: '0.2.0', sections: ['schema', 'basedir', 'versions', 'service'] }],
      ['iptables', { version: '0.2.0', sections: ['schema', 'basedir', 'versions', 7 as unknown as string] }],
      ['preparer', {}],
      ['gone', { sections: [], at: at(901) }],
      ['halted', { sections: [], stopped: true }],
    ]);
    expect(notUnderstood(['schema', 'service', 'rollout'], found, now)).toEqual([
      { section: 'service', agent: { name: 'iptables', version: '0.2.0' } },
      { section: 'rollout', agent: { name: 'iptables', version: '0.2.0' } },
      { section: 'rollout', agent: { name: 'setlive', version: '0.2.0' } },
    ]);
    // A reality record beside the heartbeats is no heartbeat.
    const withRecord = nodeHeartbeats(prefix, 'n1', [
      { key: `${realityPrefix(prefix, 'n1')}setlive/web`, value: '{"at":"x","everySeconds":1}' },
    ]);
    expect(withRecord.size).toBe(0);
  });

  it('refuses a section newer than the baseline on a node without a running heartbeat, and names it', () => {
    // A section a later version adds, modelled by a baseline without it: the node's agents cannot say.
    const baseline = ['schema', 'basedir', 'versions', 'ports', 'service', 'health', 'requires'];
    const none = beats([['setlive', { stopped: true }]]);
    expect(notUnderstood(['schema', 'rollout'], none, now, baseline)).toEqual([{ section: 'rollout' }]);
    expect(notUnderstood(['schema', 'rollout'], none, now)).toEqual([]);
    expect(() => refuseNotUnderstood(new Map([['web3', [{ section: 'rollout' }]]]))).toThrow(
      'refused to write intent that agents would refuse: node web3: no agent has a running heartbeat yet to say whether it understands section rollout (introduced in 0.1.0), which older agents refuse; upgrade those agents first (or start them, so that their heartbeats say what they understand), or pass --force to write it anyway (nothing written)',
    );
  });

  it('names each node up to ten, then counts the others; an agent whose heartbeat names no version says so', () => {
    const gaps = new Map(
      Array.from({ length: 12 }, (_, i) => [`web${i + 1}`, [{ section: 'rollout', agent: { name: 'setlive' } }]] as const),
    );
    const err = (() => {
      try {
        refuseNotUnderstood(gaps);
      } catch (e) {
        return e as CliError;
      }
      return undefined;
    })();
    expect(err?.exitCode).toBe(2);
    expect(err?.message).toContain(
      'node web1: agent setlive (of a version its heartbeat does not name) does not understand section rollout (introduced in 0.1.0); node web2:',
    );
    expect(err?.message).toContain('node web10: agent setlive');
    expect(err?.message).not.toContain('node web11');
    expect(err?.message).toContain('; and 2 more nodes; upgrade those agents first');
    expect(() => refuseNotUnderstood(new Map([['web1', []]]))).not.toThrow();
  });
});
