// The worker thread of a TreeWriter (tree-writer.ts), started from this module's URL: carries out batches of ops in
// order with synchronous fs calls, so a small file costs a handful of syscalls and no thread-pool round trip. After
// the first failure it does nothing more but report it; a `stop` message makes it drop what is queued, close its
// files and end once its background fsyncs returned, so the disk is no longer touched.
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { TreeBatch, TreeOp, TreeWorkerControl, TreeWorkerMessage, TreeWorkerSetup } from './tree-writer-protocol.js';

const { stop, bigFile, maxSyncing } = workerData as TreeWorkerSetup;
let root = (workerData as TreeWorkerSetup).root;
const port = parentPort as NonNullable<typeof parentPort>;
const CREATE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const queue: TreeBatch[] = [];
let inlineSync = true;
let fd = -1;
let size = 0;
let syncing = 0;
let failed = false;
let stopping = false;
let keep = false;
let finishing: string[] | undefined;
const at = (path: string) => (path === '' ? root : `${root}/${path}`);

const closeQuietly = () => {
  try {
    if (fd >= 0) fs.closeSync(fd);
  } catch {
    // The failure being reported, or the stop, matters more than this close.
  }
  fd = -1;
};

const fail = (err: NodeJS.ErrnoException) => {
  if (failed) return;
  failed = true;
  closeQuietly();
  port.postMessage({ error: { message: err.message, code: err.code, syscall: err.syscall, path: err.path } } satisfies TreeWorkerMessage);
};

const exitWhenIdle = () => {
  if (!stopping || syncing !== 0) return;
  // Nothing else keeps the thread alive: without its port it ends, and the TreeWriter sees it exit.
  if (!keep) return port.close();
  // Idle for the next tree (starting a worker costs tens of ms, more than a small install's whole write).
  keep = false;
  port.postMessage({ idle: true } satisfies TreeWorkerMessage);
};

const syncLater = (file: number) => {
  syncing += 1;
  fs.fsync(file, (err) => {
    fs.close(file, () => {
      syncing -= 1;
      if (err) fail(err);
      pump();
    });
  });
};

const closeFile = (mode: number, atime: number | undefined, mtime: number | undefined) => {
  const file = fd;
  fd = -1;
  try {
    fs.fchmodSync(file, mode);
    if (mtime !== undefined) fs.futimesSync(file, atime ?? mtime, mtime);
    if (inlineSync) fs.fsyncSync(file);
  } catch (err) {
    fs.closeSync(file);
    throw err;
  }
  if (!inlineSync && size >= bigFile) syncLater(file);
  else fs.closeSync(file);
};

const run = (op: TreeOp, data: Buffer) => {
  switch (op[0]) {
    case 'mkdir':
      return fs.mkdirSync(at(op[1]), 0o700);
    case 'unlink':
      return fs.unlinkSync(at(op[1]));
    case 'symlink':
      fs.symlinkSync(op[1], at(op[2]));
      if (op[3] !== undefined) fs.lutimesSync(at(op[2]), op[3], op[3]);
      return;
    case 'link':
      return fs.linkSync(at(op[1]), at(op[2]));
    case 'open':
      fd = fs.openSync(at(op[1]), CREATE, 0o600);
      size = 0;
      return;
    case 'write': {
      const end = op[1] + op[2];
      for (let offset = op[1]; offset < end; ) offset += fs.writeSync(fd, data, offset, end - offset);
      size += op[2];
      return;
    }
    case 'close':
      return closeFile(op[1], op[2], op[3]);
    case 'dir':
      fs.chmodSync(at(op[1]), op[2]);
      if (op[3] !== undefined) fs.utimesSync(at(op[1]), op[3], op[3]);
      return;
    case 'inline-sync':
      inlineSync = op[1];
      return;
    case 'finish':
      finishing = op[1];
      return;
  }
};

const finish = (folders: string[]) => {
  if (inlineSync) {
    for (const folder of folders) {
      const handle = fs.openSync(at(folder), 'r');
      try {
        fs.fsyncSync(handle);
      } finally {
        fs.closeSync(handle);
      }
    }
  }
  port.postMessage({ finished: true } satisfies TreeWorkerMessage);
};

function pump(): void {
  while (!failed && !stopping && queue.length > 0 && syncing < maxSyncing) {
    const batch = queue.shift() as TreeBatch;
    const data = Buffer.from(batch.data);
    try {
      for (const op of batch.ops) {
        if (Atomics.load(stop, 0) !== 0) return;
        run(op, data);
      }
    } catch (err) {
      fail(err as NodeJS.ErrnoException);
      return;
    }
    port.postMessage({ done: batch.data } satisfies TreeWorkerMessage, [batch.data]);
  }
  if (finishing && !failed && !stopping && syncing === 0) {
    const folders = finishing;
    finishing = undefined;
    try {
      finish(folders);
    } catch (err) {
      fail(err as NodeJS.ErrnoException);
    }
  }
  exitWhenIdle();
}

port.on('message', (message: TreeWorkerControl) => {
  if ('reset' in message) {
    root = message.reset;
    queue.length = 0;
    inlineSync = true;
    size = 0;
    failed = false;
    stopping = false;
    finishing = undefined;
    return;
  }
  if ('stop' in message) {
    stopping = true;
    keep = message.keep === true && !failed;
    queue.length = 0;
    closeQuietly();
    exitWhenIdle();
    return;
  }
  queue.push(message);
  pump();
});
