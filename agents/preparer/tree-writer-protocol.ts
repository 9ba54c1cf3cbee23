/** The messages between a TreeWriter (tree-writer.ts) and its worker thread (tree-writer-worker.ts). */

/** One file-system call for the worker; paths are relative to the install's temp folder ('' is the folder itself), times in seconds. */
export type TreeOp =
  | ['mkdir', string]
  | ['unlink', string]
  | ['symlink', target: string, path: string, mtime: number | undefined]
  | ['link', target: string, path: string]
  /** Creates a file; the 'write' and 'close' ops that follow are for it. */
  | ['open', string]
  /** Writes `length` bytes of the batch's data from `offset` to the open file. */
  | ['write', offset: number, length: number]
  | ['close', mode: number, atime: number | undefined, mtime: number | undefined]
  | ['dir', path: string, mode: number, mtime: number | undefined]
  /** true: fsync every file before closing it and every folder at the end (no syncfs available). */
  | ['inline-sync', boolean]
  /** The last op: answers `finished` once every file is on disk (folders too, when syncing inline: given deepest first). */
  | ['finish', folders: string[]];

/** A batch of ops and the bytes their writes refer to (transferred both ways, so the arena is reused). */
export interface TreeBatch {
  ops: TreeOp[];
  data: ArrayBuffer;
}

export interface TreeWorkerSetup {
  root: string;
  /** Set to 1 by the main thread when it wants the worker to stop before its next op. */
  stop: Int32Array;
  /** Files at least this large are fsynced in the background as soon as they are closed (see tree-writer.ts). */
  bigFile: number;
  /** Background fsyncs in flight before the worker stops taking batches. */
  maxSyncing: number;
}

/** From the main thread: a batch, a stop (exit, or with `keep`, go idle for the next tree), or the next tree's root. */
export type TreeWorkerControl = TreeBatch | { stop: true; keep?: boolean } | { reset: string };

export type TreeWorkerMessage =
  | { idle: true }
  | { done: ArrayBuffer }
  | { error: { message: string; code?: string; syscall?: string; path?: string } }
  | { finished: true };
