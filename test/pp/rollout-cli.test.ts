import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { flipLockPrefix } from '../../shared/keys.js';
import { FlipSemaphore, readSlots } from '../../shared/rollout/semaphore.js';
import { readVerdicts, recordVerdict } from '../../shared/rollout/verdicts.js';
import { openStore } from '../../shared/store/open-store.js';
import { appIntent, uniquePrefix } from '../support/intent-fixtures.js';
import { runCli } from '../support/run-cli.js';

const pp = (args: string[]) => runCli('pp/index.js', args);

for (const kind of ['folder', 'consul'] as const) {
  describe(`pp rollout and pp verdict against the ${kind} store`, () => {
    const setup = async () => {
      const spec =
        kind === 'folder' ? `folder:${join(await mkdtemp(join(tmpdir(), 'pp-rollout-')), 'store')}` : `consul://${inject('consulAddress')}`;
      const prefix = uniquePrefix('rollout');
      return { spec, prefix, store: await openStore(spec), base: ['--store', spec, '--prefix', prefix] };
    };

    it('shows holders and waiters, and frees a stuck slot: off the lock and its contender key gone', async () => {
      const { store, prefix, base } = await setup();
      const leases = store.leases({ name: 'test web3', ttlMs: 10_000 });
      expect((await pp([...base, 'rollout', 'status', 'hello'])).stdout).toContain('no rollout in progress');
      await new FlipSemaphore(store, leases, prefix, 'web3').acquire('hello', 2, '2.0', new AbortController().signal, () => {});
      const status = await pp([...base, 'rollout', 'status', 'hello']);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/^hello: 1 of 2 slots held, 0 waiting\n {2}web3 +holds since \S+ \(version 2\.0\)\n$/);
      const release = await pp([...base, 'rollout', 'release', 'hello', 'web3']);
      expect(release.stdout.trim()).toBe("released web3's rollout slot of hello");
      const after = await readSlots(store, leases, prefix, 'hello');
      expect(after.holders).toEqual([]);
      expect((await store.read(flipLockPrefix(prefix, 'hello'))).entries.map((e) => e.key.split('/').pop())).toEqual(['.lock']);
      expect((await pp([...base, 'rollout', 'release', 'hello', 'web3'])).stdout.trim()).toBe(
        'web3 holds no rollout slot of hello and does not wait for one',
      );
      await leases.close();
      await store.close();
    });

    it('lists verdicts (also in pp status) and clears those on one version only', async () => {
      const { store, prefix, base } = await setup();
      const sha = 'ab'.repeat(32);
      await recordVerdict(store, prefix, 'hello', 'f1', {
        node: 'web1',
        version: '2.0',
        sha256: sha,
        at: '2026-12-02T10:00:00.000Z',
        output: 'HTTP 503',
      });
      await recordVerdict(store, prefix, 'hello', 'f2', {
        node: 'web2',
        version: '2.1',
        sha256: sha,
        at: '2026-12-02T10:05:00.000Z',
        output: 'exit 1',
      });
      const ls = await pp([...base, 'verdict', 'ls']);
      expect(ls.stdout.trim().split('\n')).toEqual([
        'hello 2.0 (sha256 abababababab…, attempt f1) failed on web1 at 2026-12-02T10:00:00.000Z: HTTP 503',
        'hello 2.1 (sha256 abababababab…, attempt f2) failed on web2 at 2026-12-02T10:05:00.000Z: exit 1',
      ]);
      await store.put(`${prefix}/intent/web1/hello`, JSON.stringify(appIntent('2.1')));
      const status = await pp([...base, 'status']);
      expect(status.stdout).toContain(
        'Verdicts (lift with pp verdict clear APP VERSION):\nhello 2.0 (sha256 abababababab…, attempt f1) failed on web1',
      );
      const clear = await pp([...base, 'verdict', 'clear', 'hello', '2.0']);
      expect(clear.stdout.trim()).toBe('cleared 1 verdicts on hello 2.0');
      expect((await readVerdicts(store, prefix, 'hello')).map((v) => v.version)).toEqual(['2.1']);
      await store.close();
    });
  });
}
