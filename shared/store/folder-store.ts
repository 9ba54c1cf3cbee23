import { createHash, randomBytes } from 'node:crypto';
import {
  close as closeCallback,
  fstat as fstatCallback,
  open as openCallback,
  read as readCallback,
  stat as statCallback,
  watch as fsWatch,
  type BigIntStats,
  type FSWatcher,
} from 'node:fs';
import { link, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { readFile } from '../read-file.js';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../atomic-file.js';
import { sleep } from '../backoff.js';
import { staleTemps, tempPathIn } from '../temp-files.js';
import { FolderLeases } from './folder-leases.js';
import { ownStartTime, processAlive } from '../process-liveness.js';
import {
  ConflictError,
  refuseTooLarge,
  StoreError,
  VALUE_LIMIT_BYTES,
  valueTooLarge,
  type IntentStore,
  type KvEntry,
  type KvWrite,
  type LeaseKeeper,
  type Snapshot,
} from './types.js';

const TEMP_PREFIX = '.pp-tmp-';
/** The store's own files in its root (lock, journal, commit counter): never keys, never listed. */
const OWN_PREFIX = '.pp-store-';
const LOCK_FILE = `${OWN_PREFIX}lock`;
const JOURNAL_FILE = `${OWN_PREFIX}journal`;
const COMMITS_FILE = `${OWN_PREFIX}commits`;
const READ_BATCH = 64;
/** How long a writer waits for a live holder of the lock before giving up: no transaction takes near that long. */
const LOCK_WAIT_MS = 30_000;
/** Optimistic reads that met a transaction in flight this many times read under the lock instead. */
const OPTIMISTIC_READS = 3;

const statBig = promisify((path: string, cb: (err: NodeJS.ErrnoException | null, st: BigIntStats) => void) =>
  statCallback(path, { bigint: true }, cb),
);

// The callback API, as shared/read-file.ts says why: no FileHandle on the way to each of thousands of small files.
const openFile = promisify(openCallback);
const readInto = promisify(readCallback);
const closeFile = promisify(closeCallback);
const fstatFile = promisify(fstatCallback);

/**
 * The text of the value file at `path`, `size` bytes long when it was stat'ed, or its size when that is over
 * VALUE_LIMIT_BYTES. At most the limit and one byte are ever read, so a file that another tool grew (or replaced
 * by a huge or sparse one) costs neither the memory nor the seconds of reading it, and never fails the read.
 */
async function readValue(path: string, size: number): Promise<{ value: string } | { tooLarge: number }> {
  if (size > VALUE_LIMIT_BYTES) return { tooLarge: size };
  const fd = await openFile(path, 'r');
  try {
    // One byte more than the stat saw, so a file that grew since is noticed.
    let buffer = Buffer.allocUnsafe(size + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await readInto(fd, buffer, length, buffer.length - length, null);
      if (bytesRead === 0) return { value: buffer.toString('utf8', 0, length) };
      length += bytesRead;
      if (length > VALUE_LIMIT_BYTES) return { tooLarge: Math.max(length, (await fstatFile(fd)).size) };
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, VALUE_LIMIT_BYTES + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
    }
  } finally {
    await closeFile(fd);
  }
}

/** The entry for `key` from its file's stat and what readValue made of its content. */
function entryOf(key: string, info: BigIntStats, read: { value: string } | { tooLarge: number }): KvEntry {
  if ('value' in read) return { key, value: read.value, modifyIndex: modifyIndexOf(info, read.value) };
  // The stat alone moves the index: every write renames a fresh inode into place.
  return { key, value: '', modifyIndex: modifyIndexOf(info, ''), tooLarge: read.tooLarge };
}

function checkKey(key: string): void {
  const parts = key.split('/');
  if (key.startsWith('/') || parts.some((p) => p === '..' || p === '.' || p.startsWith(TEMP_PREFIX) || p.startsWith(OWN_PREFIX))) {
    throw new StoreError(`invalid key ${JSON.stringify(key)}: must be relative, without '.' or '..' segments`);
  }
}

/**
 * A key's modify index: a digest of the file's identity (inode, change times, size) and its content. Every
 * write through the store renames a fresh inode into place with a new ctime, so the index moves on each
 * write; it also moves when another tool rewrites the file. 48 bits keep it a safe integer; 0 means absent.
 */
function modifyIndexOf(info: BigIntStats, content: string): number {
  const digest = createHash('sha256').update(`${info.ino}:${info.ctimeNs}:${info.mtimeNs}:${info.size}\0`).update(content).digest();
  return digest.readUIntBE(0, 6) || 1;
}

/** The key's current entry: its value (or `tooLarge`) and modify index; undefined when absent. */
async function readKeyFile(key: string, path: string): Promise<KvEntry | undefined> {
  try {
    const info = await statBig(path);
    if (info.isDirectory()) return undefined;
    return entryOf(key, info, await readValue(path, Number(info.size)));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
    throw new StoreError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** A folder's identity, to recognise it when a symlink leads back to it. */
const folderId = (info: BigIntStats) => `${info.dev}:${info.ino}`;

/**
 * Lists the keys under `dir` into `out`. `above` holds the folders on the way down (identity → path): a folder
 * met again below itself is a symlink loop, which would fail only after 40 levels, and with two such links take
 * exponential time, so the read fails at once naming it.
 */
async function listFiles(dir: string, rel: string, out: KvEntry[], above: Map<string, string>): Promise<void> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
    throw new StoreError(`cannot list ${dir}: ${err.message}`, { cause: err });
  });
  const wanted = names.filter((name) => !name.startsWith(TEMP_PREFIX) && !name.startsWith(OWN_PREFIX));
  // Reads run READ_BATCH at a time: one after another, a 1,000-app node spends its pass waiting on the disk.
  for (let i = 0; i < wanted.length; i += READ_BATCH) {
    await Promise.all(
      wanted.slice(i, i + READ_BATCH).map(async (name) => {
        const key = rel === '' ? name : `${rel}/${name}`;
        const path = join(dir, name);
        // stat follows symlinks (config management links intent files in); anything unreadable fails the whole
        // read, since a read that silently skips a key would look like that app was removed. A key deleted since
        // the listing is skipped: it is gone (and a transaction that deleted it makes read() read again).
        try {
          const info = await statBig(path);
          if (info.isDirectory()) {
            const seen = above.get(folderId(info));
            if (seen !== undefined) throw new StoreError(`${path} leads back to ${seen} (a symlink loop): refusing a read that never ends`);
            await listFiles(path, key, out, new Map(above).set(folderId(info), path));
          } else if (info.isFile()) {
            out.push(entryOf(key, info, await readValue(path, Number(info.size))));
          } else throw new StoreError(`${path} is neither a file nor a folder: refusing a read that would skip a key`);
        } catch (err) {
          if (err instanceof StoreError) throw err;
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw new StoreError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
        }
      }),
    );
  }
}

/**
 * Removes the temp files of writers that are dead (a killed writer leaves its `.pp-tmp-*` beside the key it was
 * writing) in `dir`. This process's own temps are left alone: another FolderStore here may be using one.
 */
async function removeDeadTemps(dir: string): Promise<void> {
  const ours = `.${process.pid}.`;
  for (const temp of await staleTemps(dir)) if (!basename(temp).includes(ours)) await rm(temp, { force: true });
}

/** removeDeadTemps in `dir` and every real folder below it (symlinks are not followed: they may loop). */
async function sweepDeadTemps(dir: string): Promise<void> {
  await removeDeadTemps(dir);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory() && !e.name.startsWith(TEMP_PREFIX)) await sweepDeadTemps(join(dir, e.name));
}

/**
 * The content of a lock file taken by this process: `<pid> <nonce> <start time>`, the nonce telling this holder
 * from another FolderStore of the same process, the start time (none without /proc) telling this process from a
 * later one given the same pid.
 */
function lockContent(): string {
  const start = ownStartTime();
  return `${process.pid} ${randomBytes(8).toString('hex')}${start === undefined ? '' : ` ${start}`}\n`;
}

/** The holder named by a lock file's content; a lock written before locks carried a start time has none. */
export function lockHolder(content: string): { pid: number; start?: string } {
  const [pid, , start] = content.trim().split(' ');
  return { pid: Number(pid), start: start || undefined };
}

/** True while the process that wrote this lock content runs (the same pid and, when recorded, start time). */
export function lockHolderLives(content: string): boolean {
  const { pid, start } = lockHolder(content);
  return processAlive(pid, start);
}

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

/**
 * The embedded intent store: each key is a file under `root`. Its prefix index is a per-process generation
 * that moves whenever the prefix's content changes; `watch` wakes on file events and rescans every
 * `rescanMs` in case an event was missed.
 *
 * Writes hold a lock file in the root (`.pp-store-lock`, made with link(2) so it never exists empty; a lock
 * whose process is gone is broken, also when its pid now names another process: the lock records the holder's
 * start time too). Under it a transaction checks its `ifIndex` conditions, then — if it has
 * more than one write — commits by renaming a journal of every write into the root (`.pp-store-journal`),
 * applies the writes, bumps a commit counter and removes the journal. A crash after the journal's rename
 * leaves it behind and the next writer, or reader, applies it again (applying is idempotent); a crash
 * before leaves nothing. Folders without these files are plain stores already: nothing to migrate.
 *
 * Readers never take the lock on the way in. A reader that finds a journal waits for the lock and replays
 * whatever journal is still there (the writer's own, if it is alive, is gone by then) instead of reading
 * half of it; a reader whose read overlapped a commit (the journal or the counter differs after the read)
 * reads again, and under the lock after a few tries so a stream of writes cannot starve it.
 */
export class FolderStore implements IntentStore {
  readonly description: string;
  private readonly generations = new Map<string, { digest: string; index: number }>();
  private counter = 0;
  /** Serializes this instance's own lock holders, so they queue instead of polling the lock file. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Whether this instance has swept dead writers' temp files from the whole tree (once, under its first lock). */
  private swept = false;

  constructor(
    readonly root: string,
    private readonly rescanMs = 1000,
  ) {
    this.description = `folder:${root}`;
  }

  /** Reads every key under `prefix`, sorted, never showing part of a transaction. */
  async read(prefix: string): Promise<Snapshot> {
    for (let attempt = 0; attempt < OPTIMISTIC_READS; attempt++) {
      const before = await this.commits();
      if (await this.journalPending()) {
        await this.locked(() => this.replayJournal());
        continue;
      }
      const entries = await this.readNow(prefix);
      if (!(await this.journalPending()) && (await this.commits()) === before) return this.snapshotOf(prefix, entries);
    }
    return this.locked(async () => {
      await this.replayJournal();
      return this.snapshotOf(prefix, await this.readNow(prefix));
    });
  }

  private async readNow(prefix: string): Promise<KvEntry[]> {
    const dirRel = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const entries: KvEntry[] = [];
    const top = join(this.root, dirRel);
    const info = await statBig(top).catch(() => undefined);
    await listFiles(top, dirRel, entries, new Map(info ? [[folderId(info), top]] : []));
    return entries.filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  private snapshotOf(prefix: string, entries: KvEntry[]): Snapshot {
    const digest = createHash('sha256').update(JSON.stringify(entries)).digest('hex');
    const known = this.generations.get(prefix);
    if (known && known.digest === digest) return { index: known.index, entries };
    const next = { digest, index: ++this.counter };
    this.generations.set(prefix, next);
    return { index: next.index, entries };
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

  /** One key's value; a pending journal is replayed first, since it may hold a newer value of the key. */
  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    if (await this.journalPending()) await this.locked(() => this.replayJournal());
    const entry = await readKeyFile(key, join(this.root, key));
    if (entry?.tooLarge !== undefined) throw new StoreError(`cannot read ${key}: ${valueTooLarge(entry.tooLarge)}`);
    return entry?.value;
  }

  put(key: string, value: string): Promise<void> {
    return this.transaction([{ key, value }]);
  }

  delete(key: string): Promise<void> {
    return this.transaction([{ key, value: null }]);
  }

  /** Every write or none, checked and applied under the store's lock (see the class comment). */
  async transaction(writes: KvWrite[]): Promise<void> {
    for (const w of writes) checkKey(w.key);
    refuseTooLarge(writes);
    if (writes.length === 0) return;
    await this.locked(async () => {
      this.crashPoint('locked');
      await this.replayJournal();
      for (const w of writes) {
        if (w.ifIndex === undefined) continue;
        const current = (await readKeyFile(w.key, join(this.root, w.key)))?.modifyIndex ?? 0;
        if (current !== w.ifIndex) {
          throw new ConflictError(`${w.key} changed since it was read (modify index ${current}, expected ${w.ifIndex}): nothing written`);
        }
      }
      const plain = writes.map(({ key, value }) => ({ key, value }));
      // One write is one rename already: atomic without a journal.
      if (plain.length === 1) return this.apply(plain);
      await writeFileAtomic(this.journalPath(), JSON.stringify({ writes: plain }));
      this.crashPoint('journal written');
      await this.apply(plain);
      await this.finishJournal();
    });
  }

  /**
   * A test seam: called between the steps of a transaction. The crash tests override it to SIGKILL the
   * process there; it does nothing otherwise.
   */
  protected crashPoint(_step: string): void {}

  leases(): LeaseKeeper {
    return new FolderLeases(this);
  }

  async close(): Promise<void> {}

  private journalPath(): string {
    return join(this.root, JOURNAL_FILE);
  }

  private async journalPending(): Promise<boolean> {
    try {
      await statBig(this.journalPath());
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      throw new StoreError(`cannot check ${this.journalPath()}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** How many journaled transactions have completed; readers compare it before and after a read. */
  private async commits(): Promise<number> {
    const text = await readFile(join(this.root, COMMITS_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return '0';
      throw new StoreError(`cannot read ${join(this.root, COMMITS_FILE)}: ${err.message}`, { cause: err });
    });
    return Number(text) || 0;
  }

  /** Applies writes to distinct keys side by side (each waits on its own fsyncs); a repeated key keeps the order. */
  private async apply(writes: Array<{ key: string; value: string | null }>): Promise<void> {
    const distinct = new Set(writes.map((w) => w.key)).size === writes.length;
    let applied = 0;
    const one = async (w: { key: string; value: string | null }) => {
      const path = join(this.root, w.key);
      if (w.value === null) {
        await rm(path, { force: true });
        await fsyncDir(join(path, '..')).catch(() => {}); // its folder may be gone too
      } else {
        await writeFileAtomic(path, w.value);
      }
      this.crashPoint(`write ${++applied} applied`);
    };
    if (!distinct) {
      for (const w of writes) await one(w);
    } else {
      // Settle all before failing: the lock must not be released with writes still in flight.
      const failed = (await Promise.allSettled(writes.map(one))).find((r) => r.status === 'rejected');
      if (failed) throw new StoreError(`cannot write ${this.root}: ${(failed.reason as Error).message}`, { cause: failed.reason });
    }
    // A writer killed mid-write left its temp beside the key; the next write there takes it away.
    for (const dir of new Set(writes.map((w) => dirname(join(this.root, w.key))))) await removeDeadTemps(dir).catch(() => {});
  }

  /** Marks the journaled transaction done: the counter moves before the journal goes, as readers rely on. */
  private async finishJournal(): Promise<void> {
    await writeFileAtomic(join(this.root, COMMITS_FILE), String((await this.commits()) + 1));
    this.crashPoint('commit counted');
    await rm(this.journalPath(), { force: true });
    await fsyncDir(this.root);
  }

  /** Applies a journal a crashed writer left behind. Only called holding the lock, so no live writer owns it. */
  private async replayJournal(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.journalPath(), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw new StoreError(`cannot read ${this.journalPath()}: ${(err as Error).message}`, { cause: err });
    }
    let writes: Array<{ key: string; value: string | null }>;
    try {
      writes = (JSON.parse(text) as { writes: Array<{ key: string; value: string | null }> }).writes;
      for (const w of writes) checkKey(w.key);
    } catch (err) {
      // It was renamed into place whole, so this is damage from outside: guessing could apply half of it.
      throw new StoreError(`${this.journalPath()} is unreadable (${(err as Error).message}): repair or remove it by hand`, { cause: err });
    }
    await this.apply(writes);
    await this.finishJournal();
  }

  /** Runs `work` holding the store's lock: queued behind this instance's other holders, then the lock file. */
  private locked<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const lock = await this.acquireLock();
      try {
        if (!this.swept) {
          this.swept = true;
          await sweepDeadTemps(this.root).catch(() => {});
        }
        return await work();
      } finally {
        await this.releaseLock(lock);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private lockPath(): string {
    return join(this.root, LOCK_FILE);
  }

  /** Takes the lock file, breaking it when its holder is dead; resolves with this holder's content of it. */
  private async acquireLock(): Promise<string> {
    await mkdir(this.root, { recursive: true }).catch((err: Error) => {
      throw new StoreError(`cannot create ${this.root}: ${err.message}`, { cause: err });
    });
    const mine = lockContent();
    // Written aside and linked into place, so the lock never exists without the holder's pid in it.
    const temp = tempPathIn(this.root, 'lock');
    await writeFile(temp, mine);
    try {
      const deadline = Date.now() + LOCK_WAIT_MS;
      for (let attempt = 1; ; attempt++) {
        try {
          await link(temp, this.lockPath());
          return mine;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
            throw new StoreError(`cannot lock ${this.lockPath()}: ${(err as Error).message}`, { cause: err });
        }
        const holder = await readFile(this.lockPath(), 'utf8').catch(() => undefined);
        if (holder === undefined) continue; // released meanwhile
        if (!lockHolderLives(holder)) {
          await this.breakLock(holder);
          continue;
        }
        if (Date.now() > deadline) {
          throw new StoreError(
            `${this.lockPath()} has been held by pid ${lockHolder(holder).pid} for over ${LOCK_WAIT_MS / 1000} s; if that process is not a Platypus writer, remove the file`,
          );
        }
        await sleep(Math.min(attempt, 25));
      }
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Removes a dead holder's lock. It is moved aside first and checked: if another process broke it and took
   * the lock between our read and the move, the move took that live lock, which is linked back. (Two
   * breakers and a third taker within those few system calls could still both hold it; a dead holder is
   * itself rare, so that is left at this.) Stale temp files of dead writers go at the same time.
   */
  private async breakLock(holder: string): Promise<void> {
    const aside = tempPathIn(this.root, 'stale-lock');
    try {
      await rename(this.lockPath(), aside);
    } catch {
      return; // someone else broke or released it
    }
    const moved = await readFile(aside, 'utf8').catch(() => undefined);
    if (moved !== holder) await link(aside, this.lockPath()).catch(() => {});
    await rm(aside, { force: true });
    await removeDeadTemps(this.root);
  }

  private async releaseLock(mine: string): Promise<void> {
    const current = await readFile(this.lockPath(), 'utf8').catch(() => undefined);
    if (current === mine) await rm(this.lockPath(), { force: true });
  }
}
