import type { ReadEntry } from 'tar';
import { checkLink, entryPath, RefusedEntry } from './entry-rules.js';
import type { TreeWriter } from './tree-writer.js';
import { writeBody } from './write-body.js';

/** Limits against tar bombs: total bytes of file content and number of entries. */
export interface TreeLimits {
  maxBytes: number;
  maxEntries: number;
}

type Kind = 'dir' | 'file' | 'symlink';

/** A hard link's target as a path inside the install; a refusal names the link entry, not its target. */
function hardLinkTarget(entry: ReadEntry): string {
  try {
    return entryPath(entry.linkpath ?? '', 'hard link target');
  } catch (err) {
    if (err instanceof RefusedEntry) throw new RefusedEntry(entry.path, `hard link to ${entry.linkpath}: ${err.rule}`);
    throw err;
  }
}

/** Permission bits only: set-id and sticky bits from an artifact are dropped. */
const permissions = (mode: number | undefined, fallback: number) => (mode === undefined ? fallback : mode & 0o777);

/**
 * Extracts archive entries one by one into `root` (a fresh temp folder) and refuses anything unsafe.
 * It remembers what it made at each path, so it never writes through a symlink or a file, never
 * follows a link out, and can check at the end that no symlink (alone or chained) leads outside.
 * Every decision is made here, in order; `out` only carries out the file-system calls.
 */
export class SafeTree {
  readonly kinds = new Map<string, Kind>([['', 'dir']]);
  readonly links = new Map<string, string>();
  private readonly dirMeta = new Map<string, { mode?: number; mtime?: Date }>();
  entries = 0;
  bytes = 0;
  private readonly aborter = new AbortController();

  constructor(
    readonly root: string,
    private readonly limits: TreeLimits,
    private readonly out: TreeWriter,
  ) {}

  /** Stops the entry in flight (its body will never complete because the stream failed). */
  abort(reason: Error): void {
    this.aborter.abort(reason);
  }

  /** Counts an entry as soon as the parser sees it; throws a RefusedEntry for the one past --max-entries. */
  admit(entry: ReadEntry): void {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries)
      throw new RefusedEntry(entry.path, `the archive has more than ${this.limits.maxEntries} entries (--max-entries)`);
  }

  /** Extracts one entry (admitted before, consuming its body) or throws a RefusedEntry naming it and the rule. */
  async add(entry: ReadEntry): Promise<void> {
    const path = entryPath(entry.path);
    switch (entry.type) {
      case 'Directory':
      case 'GNUDumpDir':
        return this.addDir(path, entry);
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        return this.addFile(path, entry);
      case 'SymbolicLink':
        return this.addSymlink(path, entry);
      case 'Link':
        return this.addHardLink(path, entry);
      case 'CharacterDevice':
      case 'BlockDevice':
      case 'FIFO':
        throw new RefusedEntry(entry.path, `${entry.type} entries are not allowed (device and FIFO nodes)`);
      default:
        throw new RefusedEntry(entry.path, `unsupported entry type ${entry.type}`);
    }
  }

  /** Makes the folders above `path` (as our own folders only) and clears `path` for a new entry of `kind`. */
  private async prepare(path: string, raw: string, kind: Kind): Promise<void> {
    if (path === '') throw new RefusedEntry(raw, `a ${kind} entry cannot replace the install folder itself`);
    await this.out.ready();
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      const existing = this.kinds.get(dir);
      if (existing === undefined) {
        this.out.mkdir(dir);
        this.kinds.set(dir, 'dir');
      } else if (existing !== 'dir') {
        throw new RefusedEntry(raw, `its parent ${dir} is a ${existing}, and extraction never writes through a ${existing}`);
      }
    }
    const existing = this.kinds.get(path);
    if (existing === undefined || (existing === 'dir' && kind === 'dir')) return;
    if (existing === 'dir') throw new RefusedEntry(raw, `a ${kind} entry would replace the folder ${path} extracted earlier`);
    this.out.unlink(path);
    this.kinds.delete(path);
    this.links.delete(path);
  }

  private async addDir(path: string, entry: ReadEntry): Promise<void> {
    if (path !== '') {
      await this.prepare(path, entry.path, 'dir');
      if (!this.kinds.has(path)) this.out.mkdir(path);
      this.kinds.set(path, 'dir');
    }
    this.dirMeta.set(path, { mode: entry.mode, mtime: entry.mtime });
    entry.resume();
  }

  private async addFile(path: string, entry: ReadEntry): Promise<void> {
    this.bytes += entry.size;
    if (this.bytes > this.limits.maxBytes) {
      throw new RefusedEntry(
        entry.path,
        `the archive holds more than ${this.limits.maxBytes} bytes (--max-bytes; this entry alone has ${entry.size})`,
      );
    }
    await this.prepare(path, entry.path, 'file');
    this.out.openFile(path);
    this.kinds.set(path, 'file');
    await writeBody(this.out, entry, this.aborter.signal);
    this.out.closeFile(permissions(entry.mode, 0o644), entry.atime ?? entry.mtime, entry.mtime);
  }

  private async addSymlink(path: string, entry: ReadEntry): Promise<void> {
    const target = entry.linkpath ?? '';
    checkLink(path, target, this.links);
    await this.prepare(path, entry.path, 'symlink');
    this.out.symlink(target, path, entry.mtime);
    this.kinds.set(path, 'symlink');
    this.links.set(path, target);
    entry.resume();
  }

  private async addHardLink(path: string, entry: ReadEntry): Promise<void> {
    const target = hardLinkTarget(entry);
    if (this.kinds.get(target) !== 'file' || target === path) {
      throw new RefusedEntry(entry.path, `hard link to ${entry.linkpath}, which is not a regular file extracted earlier from this archive`);
    }
    await this.prepare(path, entry.path, 'file');
    this.out.link(target, path);
    this.kinds.set(path, 'file');
    entry.resume();
  }

  /**
   * After the last entry: re-checks every symlink against the whole tree, sets folder modes and times, and
   * resolves once the whole tree is on disk (see TreeWriter).
   */
  async finish(): Promise<void> {
    for (const [path, target] of this.links) checkLink(path, target, this.links);
    const folders = this.folders();
    for (const dir of folders) {
      const meta = this.dirMeta.get(dir);
      this.out.dirMeta(dir, permissions(meta?.mode, 0o755), meta?.mtime);
    }
    await this.out.finish(folders);
  }

  /** Every folder of the tree ('' is the install itself), deepest first, so parents come after their children. */
  folders(): string[] {
    const depth = (p: string) => (p === '' ? 0 : p.split('/').length);
    return [...this.kinds]
      .filter(([, kind]) => kind === 'dir')
      .map(([path]) => path)
      .sort((a, b) => depth(b) - depth(a));
  }
}
