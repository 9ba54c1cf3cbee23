import { lstat, mkdir, rename } from 'node:fs/promises';
import { readFile } from '../../shared/read-file.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fsyncDir, writeFileAtomic } from '../../shared/atomic-file.js';
import { safeUrl } from './download.js';
import { fetchAndExtract, type Extracted } from './fetch-extract.js';
import { installName, installsDir, recordName } from '../../shared/install-layout.js';
import { tempPathIn, usingTemp } from '../../shared/temp-files.js';
import type { InstallAction, PreparerOptions } from './types.js';
import { removeTree } from '../../shared/remove-tree.js';

async function recordedDigest(dir: string, name: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(dir, recordName(name)), 'utf8')) as { sha256?: string }).sha256;
  } catch {
    return undefined;
  }
}

/**
 * Puts a verified temp folder under its final name; returns false when another run just put the same
 * digest there. An existing folder of that name (another digest, no record) is first moved aside under
 * a temp name; the record is written before the rename, so a crash at any point leaves either no
 * install (the next pass redoes it) or a complete, recorded one.
 */
async function placeInstall(dir: string, name: string, temp: string, record: { sha256: string }): Promise<boolean> {
  const final = join(dir, name);
  let aside: string | undefined;
  const existing = await lstat(final).catch(() => undefined);
  if (existing) {
    if (existing.isDirectory() && (await recordedDigest(dir, name)) === record.sha256) return false;
    aside = tempPathIn(dir, `${name}-replaced`);
    await rename(final, aside);
  }
  await writeFileAtomic(join(dir, recordName(name)), `${JSON.stringify(record, null, 2)}\n`);
  await rename(temp, final);
  await fsyncDir(dir);
  if (aside) await removeTree(aside);
  return true;
}

function checkDigest(action: InstallAction, got: Extracted): void {
  if (got.sha256 === action.sha256) return;
  throw new Error(`sha256 mismatch: expected ${action.sha256}, got ${got.sha256} (${got.bytes} bytes downloaded); nothing installed`);
}

/**
 * Installs one version: streams the artifact into a temp folder inside `installs/`, and only when its
 * sha256 matches the intent renames it to `<app>_<version>`. The temp folder is removed on any failure.
 */
export async function installVersion(
  action: InstallAction,
  o: PreparerOptions,
  log: Logger,
  signal?: AbortSignal,
): Promise<{ changed: boolean }> {
  const dir = installsDir(action.basedir);
  const name = installName(action.app, action.version);
  const temp = tempPathIn(dir, name);
  return usingTemp(temp, async () => {
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await mkdir(temp, { mode: 0o700 });
      const got = await fetchAndExtract(action, temp, o, log, signal);
      // fetchAndExtract resolved only once every file and folder of the tree was on disk.
      checkDigest(action, got);
      const { sha256, bytes, entries, contentBytes } = got;
      const record = {
        app: action.app,
        version: action.version,
        sha256,
        url: safeUrl(action.url),
        bytes,
        entries,
        contentBytes,
        installedAt: new Date().toISOString(),
      };
      const changed = await placeInstall(dir, name, temp, record);
      log.info(
        { action: 'install', bytes: got.bytes, entries: got.entries },
        changed ? `installed ${join(dir, name)}` : `${join(dir, name)} was installed meanwhile`,
      );
      return { changed };
    } catch (err) {
      throw new Error(`cannot install ${name} from ${safeUrl(action.url)}: ${(err as Error).message}`, { cause: err });
    } finally {
      await removeTree(temp);
    }
  });
}
