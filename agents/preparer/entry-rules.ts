/** An archive entry the preparer will not extract; the message names the entry and the rule it breaks. */
export class RefusedEntry extends Error {
  constructor(
    readonly entry: string,
    readonly rule: string,
  ) {
    super(`refused entry ${JSON.stringify(entry)}: ${rule}`);
    this.name = 'RefusedEntry';
  }
}

/**
 * The path of an entry inside the install, as '/'-joined components without '.' or empty ones ('' is the
 * install folder itself). Throws a RefusedEntry for absolute paths, '..' components and NUL bytes.
 */
export function entryPath(raw: string, what = 'path'): string {
  if (raw.includes('\0')) throw new RefusedEntry(raw, `${what} contains a NUL byte`);
  if (raw.startsWith('/')) throw new RefusedEntry(raw, `absolute ${what} (entries must stay inside the install)`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new RefusedEntry(raw, `${what} has a '..' component (entries must stay inside the install)`);
  return parts.join('/');
}

/** The folder holding `path` inside the install ('' for the top level). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * Where a symlink at `path` with `target` points, resolved inside the install, following the archive's
 * other symlinks (`links`: path → target) as the kernel would. Returns undefined when it resolves
 * outside the install (or loops), so a chain of links that each look harmless cannot escape.
 */
export function resolveLink(path: string, target: string, links: ReadonlyMap<string, string>, depth = 0): string | undefined {
  if (depth > 40 || target.startsWith('/')) return undefined;
  let stack = parentOf(path) === '' ? [] : parentOf(path).split('/');
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return undefined;
      stack.pop();
      continue;
    }
    stack.push(part);
    const here = stack.join('/');
    const next = links.get(here);
    if (next === undefined) continue;
    const resolved = resolveLink(here, next, links, depth + 1);
    if (resolved === undefined) return undefined;
    stack = resolved === '' ? [] : resolved.split('/');
  }
  return stack.join('/');
}

/** Throws unless a symlink at `path` to `target` stays inside the install, alone and with the archive's other links. */
export function checkLink(path: string, target: string, links: ReadonlyMap<string, string>): void {
  if (target.startsWith('/')) throw new RefusedEntry(path, `symlink to absolute path ${target} points outside the install`);
  if (resolveLink(path, target, links) === undefined) {
    throw new RefusedEntry(path, `symlink to ${target} resolves outside the install (or loops through other links)`);
  }
}
