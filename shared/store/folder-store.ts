import { createHash } from 'node:crypto';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { readFile } from '../read-file.js';
import { join } from 'node:path';
import { tempPathBeside, writeFileAtomic } from '../atomic-file.js';
import { sleep } from '../backoff.js';
import { StoreError, type IntentStore, type KvEntry, type KvWrite, type Snapshot } from './types.js';

const TEMP_PREFIX = '.pp-tmp-';
const READ_BATCH = 64;

function checkKey(key: string): void {
  const parts = key.split('/');
  if (key.startsWith('/') || parts.some((p) => p === '..' || p === '.' || p.startsWith(TEMP_PREFIX))) {
    throw new StoreError(`invalid key ${JSON.stringify(key)}: must be relative, without '.' or '..' segments`);
  }
}

async function listFiles(dir: string, rel: string, out: KvEntry[]): Promise<void> {
  const items = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
    throw new StoreError(`cannot list ${dir}: ${err.message}`, { cause: err });
  });
  const wanted = items.filter((item) => !item.name.startsWith(TEMP_PREFIX));
  // Reads run READ_BATCH at a time: one after another, a 1,000-app node spends its pass waiting on the disk.
  for (let i = 0; i < wanted.length; i += READ_BATCH) {
    await Promise.all(wanted.slice(i, i + READ_BATCH).map(async (item) => {
      const key = rel === '' ? item.name : `${rel}/${item.name}`;
      const path = join(dir, item.name);
      // Follow symlinks (config management links intent files in); anything unreadable fails the whole read,
      // since a read that silently skips a key would look like that app was removed.
      const info = item.isSymbolicLink() ? await stat(path).catch((err: Error) => { throw new StoreError(`cannot read ${path}: ${err.message}`); }) : item;
      if (info.isDirectory()) await listFiles(path, key, out);
      else if (info.isFile()) out.push({ key, value: await readFile(path, 'utf8') });
      else throw new StoreError(`${path} is neither a file nor a folder: refusing a read that would skip a key`);
    }));
  }
}

/**
 * The embedded intent store: each key is a file under `root`, written atomically. Its index is a
 * per-process generation that moves whenever the prefix's content changes; `watch` wakes on file
 * events and rescans every `rescanMs` in case an event was missed.
 */
/** Watches `dir` (recursively) from now on: `signal` aborts on the first change, an error, or when `outer` aborts. */
function watchFolder(dir: string, outer?: AbortSignal): { signal: AbortSignal; close: () => void } {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  let watcher: FSWatcher | undefined;
  try {
    watcher = fsWatch(dir, { recursive: true }, () => stop.abort());
    watcher.on('error', () => stop.abort());
  } catch {
    // The folder may not exist yet: the periodic rescan notices when it appears.
  }
  return {
    signal: stop.signal,
    close: () => {
      watcher?.close();
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

export class FolderStore implements IntentStore {
  readonly description: string;
  private readonly generations = new Map<string, { digest: string; index: number }>();
  private counter = 0;

  constructor(readonly root: string, private readonly rescanMs = 1000) {
    this.description = `folder:${root}`;
  }

  /** Reads every key under `prefix`, sorted. */
  async read(prefix: string): Promise<Snapshot> {
    const dirRel = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const entries: KvEntry[] = [];
    await listFiles(join(this.root, dirRel), dirRel, entries);
    const matching = entries.filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
    return { index: this.generationOf(prefix, matching), entries: matching };
  }

  private generationOf(prefix: string, entries: KvEntry[]): number {
    const digest = createHash('sha256').update(JSON.stringify(entries)).digest('hex');
    const known = this.generations.get(prefix);
    if (known && known.digest === digest) return known.index;
    const next = { digest, index: ++this.counter };
    this.generations.set(prefix, next);
    return next.index;
  }

  /** Blocks until the prefix's content differs from the one at `afterIndex`, `waitMs` passes or `signal` aborts. */
  async watch(prefix: string, afterIndex: number, waitMs: number, signal?: AbortSignal): Promise<Snapshot> {
    const deadline = Date.now() + waitMs;
    const dirRel = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    for (;;) {
      // Watching starts before the read: a write landing between the read and the wait still ends the wait
      // (watching after the read missed such writes until the rescan, about 1 flip in 50 in the benchmark).
      const changed = watchFolder(join(this.root, dirRel), signal);
      try {
        const snapshot = await this.read(prefix);
        if (afterIndex < 1 || snapshot.index !== afterIndex || Date.now() >= deadline || signal?.aborted) return snapshot;
        await sleep(Math.min(this.rescanMs, deadline - Date.now()), changed.signal);
      } finally {
        changed.close();
      }
    }
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return readFile(join(this.root, key), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') return undefined;
      throw new StoreError(`cannot read ${key}: ${err.message}`, { cause: err });
    });
  }

  async put(key: string, value: string): Promise<void> {
    checkKey(key);
    await writeFileAtomic(join(this.root, key), value);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await rm(join(this.root, key), { force: true });
  }

  /** Stages every value as a temp file first, then renames in order: a crash can leave only a prefix of the renames. */
  async transaction(writes: KvWrite[]): Promise<void> {
    writes.forEach((w) => checkKey(w.key));
    const staged: Array<{ temp: string; path: string } | { path: string }> = [];
    for (const w of writes) {
      const path = join(this.root, w.key);
      if (w.value === null) {
        staged.push({ path });
        continue;
      }
      await mkdir(join(path, '..'), { recursive: true });
      const temp = tempPathBeside(path);
      await writeFileAtomic(temp, w.value);
      staged.push({ temp, path });
    }
    for (const s of staged) {
      if ('temp' in s) await rename(s.temp, s.path);
      else await rm(s.path, { force: true });
    }
  }

  async close(): Promise<void> {}
}
