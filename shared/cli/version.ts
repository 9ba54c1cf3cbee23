import { readFileSync } from 'node:fs';

// dist/shared/cli/ when built, shared/cli/ when tests run the sources: package.json is three or two levels up.
const CANDIDATES = ['../../../package.json', '../../package.json'];

/** This Platypus's version from its package.json ("unknown" when it cannot be found), for `--version`. */
export function platypusVersion(): string {
  for (const rel of CANDIDATES) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'platypus' && pkg.version) return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

/** True when argv asks only for the version (`--version` as the first argument). */
export const wantsVersion = (argv: readonly string[]): boolean => argv[0] === '--version';
