import type { CleanLeftoversAction } from '../../shared/leftovers.js';

/** Everything pp-preparer takes from its flags. */
export interface PreparerOptions {
  /** Installs not named by intent that are kept besides the one `current` points to (rollback targets). */
  keep: number;
  /** Refuse archives whose entries add up to more than this many bytes (tar bombs). */
  maxBytes: number;
  /** Refuse archives with more entries than this. */
  maxEntries: number;
  /** Refuse archives whose output grows beyond this many times the compressed bytes read (gzip bombs), past RATIO_FLOOR. */
  maxRatio: number;
  /** Refuse artifacts (compressed) longer than this. */
  maxDownloadBytes: number;
  /** Extra CA certificates (PEM) trusted for https:// artifact URLs. */
  ca?: Buffer;
  /** A download that receives no byte for this long is aborted (and retried by the loop). */
  downloadTimeoutMs: number;
  /** A download (with its extraction) not done after this long is aborted (and retried by the loop), however steadily bytes come. */
  downloadDeadlineMs: number;
  /** How many apps are installed at once. */
  parallel?: number;
  /** Where progress goes: a terminal line, periodic log lines, or nowhere. */
  progress: 'tty' | 'log' | 'off';
  /** Told of artifact bytes as they arrive (for metrics). */
  onFetched?: (app: string, bytes: number) => void;
}

/** Make `<basedir>/installs/<app>_<version>` hold the artifact at `url` whose gzip bytes hash to `sha256`. */
export interface InstallAction {
  kind: 'install';
  app: string;
  version: string;
  basedir: string;
  url: string;
  sha256: string;
  /** The artifact's exact length in bytes, when intent gives it. */
  size?: number;
  /** Why a folder of that name is already there but not trusted (another digest, no record). */
  replaces?: string;
}

/** Remove `<basedir>/installs/<name>` (and its install record): not named by intent, not current, beyond --keep. */
export interface PruneAction {
  kind: 'prune';
  app: string;
  basedir: string;
  name: string;
}

export type PreparerAction = InstallAction | PruneAction | CleanLeftoversAction;

/** The actions that delete installs: the loop admits them only on trusted intent (and a signed removal, if asked). */
export const PREPARER_REMOVALS: readonly PreparerAction['kind'][] = ['prune'];

/** One entry of `<basedir>/installs/` that looks like an install (`<something>_<version>`, not hidden). */
export interface InstallDir {
  name: string;
  /** A real folder (not a file or a symlink under an install's name). */
  isDir: boolean;
  /** Digest recorded when the preparer renamed it into place; absent when it did not make it. */
  sha256?: string;
  /** When it was installed (record) or last modified (folder), for "newest --keep N". */
  installedAt: string;
}

/** What one basedir's `installs/` and `current` look like. */
export interface BasedirState {
  installs: Map<string, InstallDir>;
  /** Install name `<basedir>/current` points to, when it points into `installs/`. */
  current?: string;
  /** Install name `<basedir>/last` points to: setlive's rollback target, never pruned either. */
  last?: string;
  /** Temp folders of killed runs (an install or a prune cut short). */
  leftovers: string[];
  /** Install records (`.pp-install-<name>.json`) whose folder is gone. */
  orphanRecords: string[];
  /** `installs/` does not exist. */
  missing?: boolean;
  /** Why `installs/` could not be read; the apps using this basedir report it. */
  error?: string;
}

/** The preparer's view of the host: every basedir it knows, and what failed last time per app and version. */
export interface PreparerObserved {
  basedirs: Map<string, BasedirState>;
  /** Apps seen in intent since start, with their basedir: lets removed apps' installs be pruned. */
  knownApps: Map<string, string>;
  /** Basedirs apps had before intent moved them, still holding an `installs/` folder. */
  formerBasedirs: Map<string, string[]>;
  /** Last install failure per app, per version (cleared on success). */
  failures: Map<string, Map<string, string>>;
}
