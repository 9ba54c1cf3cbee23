import { chmod, chown, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../shared/atomic-file.js';

let dir: string;
const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pp-atomic-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes a missing file with its mode, and reports a second identical write unchanged', async () => {
    const path = join(dir, 'fresh');
    expect(await writeFileAtomic(path, 'hello\n', 0o755)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('hello\n');
    expect(await modeOf(path)).toBe(0o755);
    expect(await writeFileAtomic(path, 'hello\n', 0o755)).toBe(false);
    expect(await readdir(dir)).toEqual(['fresh']);
  });

  it('repairs a file whose mode drifted though its content is the same, in place, and reports it changed', async () => {
    const path = join(dir, 'run');
    await writeFileAtomic(path, '#!/bin/sh\nexec true\n', 0o755);
    await chmod(path, 0o644);
    const inode = (await stat(path)).ino;
    expect(await writeFileAtomic(path, '#!/bin/sh\nexec true\n', 0o755)).toBe(true);
    expect(await modeOf(path)).toBe(0o755);
    expect((await stat(path)).ino).toBe(inode);
    expect(await readFile(path, 'utf8')).toBe('#!/bin/sh\nexec true\n');
    expect(await writeFileAtomic(path, '#!/bin/sh\nexec true\n', 0o755)).toBe(false);
  });

  it('rewrites a file whose content and mode both differ', async () => {
    const path = join(dir, 'both');
    await writeFile(path, 'old\n', { mode: 0o600 });
    expect(await writeFileAtomic(path, 'new\n', 0o644)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('new\n');
    expect(await modeOf(path)).toBe(0o644);
  });

  it('compares the owner only when one is asked for, and never reports a file of another owner unchanged', async () => {
    const path = join(dir, 'owned');
    const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    await writeFileAtomic(path, 'x\n', 0o640);
    expect(await writeFileAtomic(path, 'x\n', 0o640, me)).toBe(false);
    const nobody = { uid: 65534, gid: 65534 };
    if (me.uid === 0) {
      // Root can hand the file over, and take it back.
      expect(await writeFileAtomic(path, 'x\n', 0o640, nobody)).toBe(true);
      expect(await stat(path)).toMatchObject(nobody);
      await chown(path, nobody.uid, nobody.gid);
      expect(await writeFileAtomic(path, 'x\n', 0o640)).toBe(false);
      expect(await writeFileAtomic(path, 'x\n', 0o640, me)).toBe(true);
      expect(await stat(path)).toMatchObject(me);
    } else {
      // Another user cannot give a file away: the write fails rather than claiming the file is as asked.
      await expect(writeFileAtomic(path, 'x\n', 0o640, nobody)).rejects.toMatchObject({ code: 'EPERM' });
    }
    expect(await modeOf(path)).toBe(0o640);
  });
});
