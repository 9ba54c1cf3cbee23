import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownStartTime } from '../../../shared/process-liveness.js';
import { FolderStore, lockHolderLives } from '../../../shared/store/folder-store.js';
import { storeContract } from './store-contract.js';

storeContract('folder', async () => new FolderStore(await mkdtemp(join(tmpdir(), 'pp-folder-')), 200));

describe('folder store layout', () => {
  it('keeps each key as a file under the root and leaves no temp files behind', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
    const store = new FolderStore(root);
    await store.put('platypus/intent/n1/web', '{}');
    await store.transaction([
      { key: 'platypus/intent/n1/.drained', value: '{}' },
      { key: 'platypus/intent/n1/web', value: null },
    ]);
    expect(await readdir(join(root, 'platypus/intent/n1'))).toEqual(['.drained']);
  });

  it('ends a watch on a write that lands between its read and its wait (no rescan needed)', async () => {
    /** Writes a new key right after its next read returns: the moment a watcher set up after the read would miss. */
    class WriteAfterRead extends FolderStore {
      armed = false;
      override async read(prefix: string) {
        const snapshot = await super.read(prefix);
        if (this.armed) {
          this.armed = false;
          await this.put(`${prefix}b`, '2');
        }
        return snapshot;
      }
    }
    const store = new WriteAfterRead(await mkdtemp(join(tmpdir(), 'pp-folder-')), 600_000); // no rescan within the test
    await store.put('p/intent/n1/a', '1');
    const first = await store.watch('p/intent/n1/', 0, 0);
    store.armed = true;
    // Missed, this watch would block for its whole 10 minutes and the test would time out.
    const next = await store.watch('p/intent/n1/', first.index, 600_000);
    expect(next.entries.map((e) => e.key)).toEqual(['p/intent/n1/a', 'p/intent/n1/b']);
  }, 20_000);

  it('refuses keys that would leave the root', async () => {
    const store = new FolderStore(await mkdtemp(join(tmpdir(), 'pp-folder-')));
    await expect(store.put('../escape', 'x')).rejects.toThrow(/invalid key/);
    await expect(store.put('/abs', 'x')).rejects.toThrow(/invalid key/);
  });

  it('follows a symlinked key, and refuses a read that would have to skip an entry it cannot read', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
    const store = new FolderStore(root);
    await store.put('p/intent/n1/a', 'A');
    await writeFile(join(root, 'elsewhere.json'), 'B');
    await symlink(join(root, 'elsewhere.json'), join(root, 'p/intent/n1/b'));
    expect((await store.read('p/intent/n1/')).entries.map((e) => e.value)).toEqual(['A', 'B']);
    execFileSync('mkfifo', [join(root, 'p/intent/n1/c')]);
    await expect(store.read('p/intent/n1/')).rejects.toThrow(/neither a file nor a folder/);
  });
});

describe('folder store hazards', () => {
  it('fails a read through a symlink loop at once, naming the looping path, even with two self-links', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
    const store = new FolderStore(root);
    await store.put('p/intent/n1/a', 'A');
    await symlink('.', join(root, 'p/intent/n1/l1'));
    await symlink('.', join(root, 'p/intent/n1/l2'));
    // The folder is walked concurrently, so either link may be the one named. Without the loop check the two links
    // make the walk exponential (seconds and hundreds of MB, then EMFILE), which this test's timeout would catch.
    const n1 = join(root, 'p/intent/n1');
    await expect(store.read('p/intent/n1/')).rejects.toThrow(`leads back to ${n1} (a symlink loop)`);
    await expect(store.read('p/intent/n1/')).rejects.toThrow(new RegExp(`^${n1}/l[12] leads back to`));
    // A loop further up is found as well, and a link to a folder that is not above it is read as usual.
    await rm(join(root, 'p/intent/n1/l1'));
    await rm(join(root, 'p/intent/n1/l2'));
    await mkdir(join(root, 'shared'));
    await writeFile(join(root, 'shared/b'), 'B');
    await symlink(join(root, 'shared'), join(root, 'p/intent/n1/s'));
    expect((await store.read('p/intent/n1/')).entries.map((e) => [e.key, e.value])).toEqual([
      ['p/intent/n1/a', 'A'],
      ['p/intent/n1/s/b', 'B'],
    ]);
    await symlink(join(root, 'p'), join(root, 'p/intent/n1/up'));
    await expect(store.read('p/intent/n1/')).rejects.toThrow(/n1\/up\/intent\/n1 leads back to .*\/p\/intent\/n1 \(a symlink loop\)/);
  });

  it('removes the temp files of a killed writer when it is opened and on the next write there, never a live one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
    const first = new FolderStore(root);
    await first.put('p/reality/n1/setlive/web', '1');
    await first.put('p/reality/n1/preparer/web', '1');
    const dead = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString();
    const folder = join(root, 'p/reality/n1/setlive');
    const other = join(root, 'p/reality/n1/preparer');
    await writeFile(join(folder, `.pp-tmp-web.${dead}.0badcafe`), 'half');
    await writeFile(join(other, `.pp-tmp-web.${dead}.0badcafe`), 'half');
    await writeFile(join(folder, `.pp-tmp-api.${process.ppid}.0badcafe`), 'a live writer');
    // The same store goes on writing (it swept when it first wrote): the next write in that folder cleans it.
    await first.put('p/reality/n1/setlive/web', '2');
    expect((await readdir(folder)).sort()).toEqual([`.pp-tmp-api.${process.ppid}.0badcafe`, 'web']);
    expect((await readdir(other)).sort()).toEqual([`.pp-tmp-web.${dead}.0badcafe`, 'web']);
    // A store opened afterwards sweeps the whole tree on its first write, wherever that is.
    await new FolderStore(root).put('p/intent/n1/web', '{}');
    expect(await readdir(other)).toEqual(['web']);
  });
});

describe('folder store value limit', () => {
  it('lists a value file over 512 KiB by its size without reading it, beside the keys it reads, and refuses to get it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
    const store = new FolderStore(root);
    await store.put('p/intent/n1/a', 'A');
    // Written by another tool: 600 KiB, and a sparse 1 GiB file, past what one string can hold (a read of it failed
    // the whole read, for every key beside it).
    await writeFile(join(root, 'p/intent/n1/big'), 'x'.repeat(600 * 1024));
    await writeFile(join(root, 'p/intent/n1/huge'), '');
    await truncate(join(root, 'p/intent/n1/huge'), 1024 ** 3);
    const started = performance.now();
    const { entries } = await store.read('p/intent/n1/');
    expect(performance.now() - started).toBeLessThan(2000); // reading 1 GiB takes seconds
    expect(entries.map(({ key, value, tooLarge }) => [key, value, tooLarge])).toEqual([
      ['p/intent/n1/a', 'A', undefined],
      ['p/intent/n1/big', '', 614400],
      ['p/intent/n1/huge', '', 1024 ** 3],
    ]);
    expect(entries.every((e) => (e.modifyIndex ?? 0) > 0)).toBe(true);
    await expect(store.get('p/intent/n1/huge')).rejects.toThrow(
      'cannot read p/intent/n1/huge: value of 1073741824 bytes, over the 512 KiB limit (expected at most 524288 bytes)',
    );
    expect(await store.get('p/intent/n1/a')).toBe('A');
    // A check-and-set write with the index read replaces it (how pp intent put mends the key); a stale one is refused.
    const big = entries.find((e) => e.key === 'p/intent/n1/big')!;
    await store.transaction([{ key: big.key, value: 'B', ifIndex: big.modifyIndex! }]);
    await expect(store.transaction([{ key: big.key, value: 'C', ifIndex: big.modifyIndex! }])).rejects.toThrow(/changed since it was read/);
    expect(await store.get(big.key)).toBe('B');
  });
});

describe('folder store lock', () => {
  const LOCK = '.pp-store-lock';
  const start = ownStartTime()!;

  it('takes over a lock whose pid runs but started at another time: that pid was given to another process', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
    // This very pid, alive, but not the process that took the lock: its start time differs.
    await writeFile(join(root, LOCK), `${process.pid} 00112233aabbccdd ${Number(start) - 1}\n`);
    const store = new FolderStore(root);
    await store.put('p/k', 'v');
    expect(await store.get('p/k')).toBe('v');
    expect((await readdir(root)).filter((n) => n.startsWith('.pp-store-lock') || n.startsWith('.pp-tmp-'))).toEqual([]);
  });

  it('takes over a lock of a gone process, also one written before locks carried a start time', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((done) => child.once('exit', done));
    for (const content of [`${child.pid} 00112233aabbccdd\n`, `${child.pid}\n`, `${child.pid} 00112233aabbccdd ${start}\n`]) {
      const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
      await writeFile(join(root, LOCK), content);
      await new FolderStore(root).put('p/k', content);
      expect(await readdir(root)).not.toContain(LOCK);
    }
  });

  it('waits for a lock held by this very process, in the format with a start time or the one without', async () => {
    for (const content of [`${process.pid} 00112233aabbccdd ${start}\n`, `${process.pid} 00112233aabbccdd\n`]) {
      expect(lockHolderLives(content)).toBe(true);
      const root = await mkdtemp(join(tmpdir(), 'pp-folder-'));
      await writeFile(join(root, LOCK), content);
      let written = false;
      const put = new FolderStore(root).put('p/k', 'v').then(() => {
        written = true;
      });
      // The writer's own lock content, written aside before it tries the lock, shows it is waiting.
      while (!(await readdir(root)).some((n) => n.startsWith('.pp-tmp-lock.'))) await new Promise((r) => setImmediate(r));
      expect(await readFile(join(root, LOCK), 'utf8')).toBe(content);
      expect(written).toBe(false);
      await rm(join(root, LOCK));
      await put;
      expect(await readFile(join(root, 'p/k'), 'utf8')).toBe('v');
    }
    expect(lockHolderLives(`${process.pid} 00112233aabbccdd ${Number(start) + 1}\n`)).toBe(false);
    expect(lockHolderLives('not a lock\n')).toBe(false);
  });
});
