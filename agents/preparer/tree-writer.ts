import { execFile } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { TreeBatch, TreeOp, TreeWorkerControl, TreeWorkerMessage, TreeWorkerSetup } from './tree-writer-protocol.js';

/** Bytes of file content per batch (the worker writes them with one call per file); batches are sent when full, or once the event loop turns. */
const ARENA = 256 << 10;
/** Files fsynced one by one as they are closed; a tree with more is flushed with one syncfs at the end. */
const INLINE_FILES = 64;
/** Ops per batch, so a storm of tiny entries is sent in bounded pieces too. */
const MAX_OPS = 2048;
/** Batches sent and not yet done before the extraction waits: about 1 MB of content in flight at most. */
const MAX_IN_FLIGHT = 4;
/** Files from this size on are fsynced in the background as soon as they are written (see TreeWriter). */
const BIG_FILE = 128 << 10;

/** Idle workers kept for the next trees: about as many as the preparer installs at once. */
const POOL_SIZE = 4;

interface PooledWorker {
  worker: Worker;
  stop: Int32Array;
}

const idleWorkers: PooledWorker[] = [];

const seconds = (date: Date | undefined) => (date === undefined ? undefined : date.getTime() / 1000);

/**
 * Whether `sync -f DIR` (syncfs(2), coreutils ≥ 8.24) is there, asked once per process: without it every
 * file is fsynced on its own, which is durable too, only slower.
 */
let syncfsProbe: Promise<boolean> | undefined;
function hasSyncfs(): Promise<boolean> {
  syncfsProbe ??= new Promise((done) => {
    if (process.platform !== 'linux') return done(false);
    execFile('sync', ['--help'], { timeout: 10_000 }, (err, stdout) => done(!err && stdout.includes('--file-system')));
  });
  return syncfsProbe;
}

/** Flushes the whole file system holding `dir` to disk and waits for it (syncfs(2) through coreutils' `sync -f`). */
function syncfs(dir: string): Promise<void> {
  return new Promise((done, fail) => {
    execFile('sync', ['-f', dir], (err, _stdout, stderr) => {
      if (err) fail(new Error(`cannot flush the extracted files to disk: sync -f: ${stderr.trim() || err.message}`));
      else done();
    });
  });
}

/**
 * The file-writing back end of the extraction: queues the calls SafeTree decides on (which all stay on the
 * main thread, with every check) and a worker thread carries them out in order with synchronous fs calls,
 * in batches whose content bytes are copied once into a transferred arena. Per small file that is a few
 * syscalls instead of six thread-pool round trips, each one waking the event loop.
 *
 * Durability: nothing here is durable until `finish` resolves, and the install is renamed into place only
 * after that, so a crash before leaves only a temp folder, which the next run removes. `finish` waits
 * until the worker wrote everything (folder modes and times included), then flushes the file system that
 * holds the temp folder with one syncfs(2): it writes back every dirty page and inode of that file
 * system — every file, folder and link the extraction made among them — commits the journal and waits,
 * and (Linux ≥ 5.8) reports a writeback error nobody saw yet, making `sync` exit non-zero. One flush
 * lets the file system write the whole tree in one go instead of committing a journal transaction per
 * file. Files of BIG_FILE bytes or more are also fsynced in the background right after they are written,
 * so their writeback overlaps the extraction rather than piling up (in the dirty page cache) for the
 * end; a failed fsync fails the extraction. A small tree (fewer than INLINE_FILES files), or any tree without
 * `sync -f`, is made durable the classic way instead: the worker fsyncs each file before closing it and each
 * folder at the end.
 */
export class TreeWriter {
  private readonly worker: Worker;
  private readonly stopFlag: Int32Array;
  private readonly onMessageBound = (m: TreeWorkerMessage) => this.onMessage(m);
  private readonly onErrorBound = (err: Error) => this.fail(err);
  private onExit: () => void = () => {};
  private gone = false;
  private idled: (() => void) | undefined;
  private closed: Promise<void> | undefined;
  private ops: TreeOp[] = [];
  private arena = Buffer.allocUnsafeSlow(ARENA);
  private used = 0;
  private spare: ArrayBuffer[] = [];
  private inFlight = 0;
  private scheduled = false;
  private failure: Error | undefined;
  private waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private finished: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private readonly exited: Promise<void>;
  private closing = false;
  private files = 0;

  private constructor(
    readonly root: string,
    private readonly useSyncfs: boolean,
    pooled: PooledWorker | undefined,
  ) {
    if (pooled) {
      this.worker = pooled.worker;
      this.stopFlag = pooled.stop;
      Atomics.store(this.stopFlag, 0, 0);
      this.worker.ref();
      this.worker.postMessage({ reset: root } satisfies TreeWorkerControl);
    } else {
      this.stopFlag = new Int32Array(new SharedArrayBuffer(4));
      const setup: TreeWorkerSetup = { root, stop: this.stopFlag, bigFile: BIG_FILE, maxSyncing: 2 };
      // The compiled module beside this one (vitest, running the sources, bundles it: test/support/worker-modules.ts).
      this.worker = new Worker(new URL('./tree-writer-worker.js', import.meta.url), {
        workerData: setup,
        resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
      });
    }
    this.worker.on('message', this.onMessageBound);
    this.worker.on('error', this.onErrorBound);
    this.exited = new Promise((done) => {
      this.onExit = () => {
        this.gone = true;
        if (!this.closing) this.fail(new Error('the extraction worker stopped unexpectedly'));
        done();
      };
      this.worker.once('exit', this.onExit);
    });
    // Small trees are fsynced file by file (a syncfs per install would flush every other writer's dirty pages each
    // time, which makes 1,000 small installs 8x slower); past INLINE_FILES files one syncfs at the end is cheaper.
    this.ops.push(['inline-sync', true]);
  }

  /** A writer into `root` (an empty temp folder); `close` must follow whatever happens. */
  static async start(root: string): Promise<TreeWriter> {
    return new TreeWriter(root, await hasSyncfs(), idleWorkers.pop());
  }

  private onMessage(m: TreeWorkerMessage): void {
    if ('idle' in m) {
      this.idled?.();
    } else if ('done' in m) {
      this.inFlight -= 1;
      if (this.spare.length < 2) this.spare.push(m.done);
      if (this.inFlight < MAX_IN_FLIGHT) for (const w of this.waiters.splice(0)) w.resolve();
    } else if ('error' in m) {
      this.fail(Object.assign(new Error(m.error.message), { code: m.error.code, syscall: m.error.syscall, path: m.error.path }));
    } else {
      this.finished?.resolve();
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.finished?.reject(err);
  }

  /** True while enough is in flight that the caller should wait for `ready` before queuing file content. */
  get full(): boolean {
    return this.inFlight >= MAX_IN_FLIGHT;
  }

  /** Resolves when there is room for more; rejects with the worker's first failure. */
  ready(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inFlight < MAX_IN_FLIGHT) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private push(op: TreeOp): void {
    this.ops.push(op);
    if (this.ops.length >= MAX_OPS) this.send();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.send();
      });
    }
  }

  private send(): void {
    if (this.ops.length === 0 || this.failure || this.closing) return;
    const batch: TreeBatch = { ops: this.ops, data: this.arena.buffer as ArrayBuffer };
    this.worker.postMessage(batch, [batch.data]);
    this.inFlight += 1;
    this.ops = [];
    const reuse = this.spare.pop();
    this.arena = reuse ? Buffer.from(reuse) : Buffer.allocUnsafeSlow(ARENA);
    this.used = 0;
  }

  mkdir(path: string): void {
    this.push(['mkdir', path]);
  }

  unlink(path: string): void {
    this.push(['unlink', path]);
  }

  symlink(target: string, path: string, mtime: Date | undefined): void {
    this.push(['symlink', target, path, seconds(mtime)]);
  }

  link(target: string, path: string): void {
    this.push(['link', target, path]);
  }

  /** Creates a new file (O_EXCL, O_NOFOLLOW, mode 0600 until `closeFile`); `write` and `closeFile` go to it. */
  openFile(path: string): void {
    this.push(['open', path]);
  }

  /** Queues a copy of `chunk` for the open file. */
  write(chunk: Buffer): void {
    let from = 0;
    while (from < chunk.length) {
      if (this.used === this.arena.length) this.send();
      const n = Math.min(chunk.length - from, this.arena.length - this.used);
      chunk.copy(this.arena, this.used, from, from + n);
      this.push(['write', this.used, n]);
      this.used += n;
      from += n;
    }
  }

  closeFile(mode: number, atime: Date | undefined, mtime: Date | undefined): void {
    this.push(['close', mode, seconds(atime), seconds(mtime)]);
    this.files += 1;
    if (this.useSyncfs && this.files === INLINE_FILES) this.push(['inline-sync', false]);
  }

  /** True while every file so far is fsynced as it is closed (the tree is small, or there is no syncfs). */
  private get syncingInline(): boolean {
    return !this.useSyncfs || this.files < INLINE_FILES;
  }

  /** Sets a folder's mode and times, once nothing more is written into it. */
  dirMeta(path: string, mode: number, mtime: Date | undefined): void {
    this.push(['dir', path, mode, seconds(mtime)]);
  }

  /** After the last op: resolves once all of it is on disk (see the class comment); `folders` deepest first. */
  async finish(folders: string[]): Promise<void> {
    if (this.failure) throw this.failure;
    const done = new Promise<void>((resolve, reject) => {
      this.finished = { resolve, reject };
    });
    const inline = this.syncingInline;
    this.push(['finish', inline ? folders : []]);
    this.send();
    await done;
    if (!inline) await syncfs(this.root);
  }

  /**
   * Stops the worker (dropping what it has not done yet) and resolves once it no longer touches the disk. A worker
   * that did not fail goes back to a small pool for the next tree; one that failed exits.
   */
  close(): Promise<void> {
    this.closed ??= this.stop();
    return this.closed;
  }

  private async stop(): Promise<void> {
    this.closing = true;
    Atomics.store(this.stopFlag, 0, 1);
    const reusable = !this.failure && !this.gone && idleWorkers.length < POOL_SIZE;
    if (reusable) {
      const idle = new Promise<void>((done) => {
        this.idled = done;
      });
      this.worker.postMessage({ stop: true, keep: true } satisfies TreeWorkerControl);
      await Promise.race([idle, this.exited]);
      this.release();
      if (!this.gone) {
        this.worker.unref();
        idleWorkers.push({ worker: this.worker, stop: this.stopFlag });
      }
      return;
    }
    this.worker.postMessage({ stop: true } satisfies TreeWorkerControl);
    await this.exited;
    this.release();
  }

  private release(): void {
    this.worker.off('message', this.onMessageBound);
    this.worker.off('error', this.onErrorBound);
    this.worker.off('exit', this.onExit);
  }
}
