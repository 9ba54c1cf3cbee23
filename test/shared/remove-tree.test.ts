import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from '../../shared/remove-tree.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pp-remove-tree-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('removeTree', () => {
  it('removes a tree with many files, nested and read-only folders, and symlinks without following them', async () => {
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'k');
    const root = join(dir, 'tree');
    for (let d = 0; d < 5; d += 1) {
      await mkdir(join(root, `d${d}`, 'deep', 'er'), { recursive: true });
      for (let f = 0; f < 50; f += 1) await writeFile(join(root, `d${d}`, `f${f}`), 'x');
      await writeFile(join(root, `d${d}`, 'deep', 'er', 'leaf'), 'x');
    }
    await symlink(outside, join(root, 'link-to-outside'));
    await symlink('d0', join(root, 'link-to-d0'));
    await chmod(join(root, 'd1', 'deep'), 0o500);
    await chmod(join(root, 'd2'), 0o000);

    await removeTree(root);
    expect(await readdir(dir)).toEqual(['outside']);
    expect(await readdir(outside)).toEqual(['keep']);
  });

  it('removes a single file and accepts a path that is not there', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await removeTree(join(dir, 'file'));
    await removeTree(join(dir, 'missing'));
    expect(await readdir(dir)).toEqual(['outside']);
  });
});
