import { readArray, readMatching, readName } from './fields.js';
import { formatProblems, hasFatal, own, type PathPart, type Problem, readObject, report, reportUnknown } from './problems.js';
import { readHealth, readPort, readService, readVersion } from './sections.js';

/**
 * The JSON stored at `<prefix>/intent/<node>/<app>`: everything one node needs to run one app.
 * Checked by hand rather than with a schema library: agents start often and stay resident, and the
 * library cost more start time and memory than everything else they load for intent.
 */

export interface VersionIntent {
  version: string;
  url: string;
  sha256: string;
  /** The artifact's exact length in bytes (compressed), when intent knows it: the preparer refuses any other. */
  size?: number;
  state: 'prepared' | 'live';
}

export interface PortIntent {
  port: number;
  protocol: 'tcp' | 'udp';
}

export interface ServiceIntent {
  command: string[];
  env: Record<string, string>;
  user?: string | undefined;
}

export interface HealthIntent {
  http?: string | undefined;
  command?: string[] | undefined;
  timeoutMs: number;
}

export interface AppIntent {
  schema: 1;
  basedir: string;
  versions: VersionIntent[];
  ports: PortIntent[];
  service?: ServiceIntent | undefined;
  health?: HealthIntent | undefined;
  requires: string[];
}

export type Checked = { ok: true; intent: AppIntent } | { ok: false; problems: Problem[] };

const TOP_KEYS: ReadonlySet<string> = new Set(['schema', 'basedir', 'versions', 'ports', 'service', 'health', 'requires']);
const ABSOLUTE_PATTERN = /^\/./;

/** Checks a parsed JSON value as an app intent: a fresh, defaulted intent, or every problem found (each with its field path). */
export function checkAppIntent(raw: unknown): Checked {
  const problems: Problem[] = [];
  const obj = readObject(problems, [], raw);
  if (!obj) return { ok: false, problems };
  const intent = readFields(problems, obj);
  reportUnknown(problems, [], obj, TOP_KEYS);
  // Cross-field checks need every field of the right type; pattern and range problems do not stop them.
  if (!hasFatal(problems, 0)) checkAcrossFields(problems, intent as AppIntent);
  return problems.length === 0 ? { ok: true, intent: intent as AppIntent } : { ok: false, problems };
}

/** Returns a fresh, defaulted intent from `raw`, or throws "invalid intent: field P: message; ..." naming every problem. */
export function parseAppIntent(raw: unknown): AppIntent {
  const checked = checkAppIntent(raw);
  if (!checked.ok) throw new Error(`invalid intent: ${formatProblems(checked.problems)}`);
  return checked.intent;
}

function readFields(problems: Problem[], obj: Record<string, unknown>): Partial<AppIntent> {
  const versions = own(obj, 'versions');
  const ports = own(obj, 'ports');
  const requires = own(obj, 'requires');
  const intent: Partial<AppIntent> = {
    schema: own(obj, 'schema') === 1 ? 1 : report(problems, ['schema'], 'expected schema version 1', true),
    basedir: readBasedir(problems, own(obj, 'basedir')),
    versions: versions === undefined ? [] : readArray(problems, ['versions'], versions, readVersion),
    ports: ports === undefined ? [] : readArray(problems, ['ports'], ports, readPort),
  };
  const { service, health } = obj;
  if (Object.hasOwn(obj, 'service')) intent.service = service === undefined ? undefined : readService(problems, ['service'], service);
  if (Object.hasOwn(obj, 'health')) intent.health = health === undefined ? undefined : readHealth(problems, ['health'], health);
  intent.requires = requires === undefined ? [] : readArray(problems, ['requires'], requires, readRequired);
  return intent;
}

function readBasedir(problems: Problem[], value: unknown): string | undefined {
  const basedir = readMatching(problems, ['basedir'], value, ABSOLUTE_PATTERN, 'expected an absolute path');
  if (basedir?.split('/').includes('..')) report(problems, ['basedir'], "must not contain '..'");
  return basedir;
}

function readRequired(problems: Problem[], path: PathPart[], value: unknown): string | undefined {
  return readName(problems, path, value, 'required app');
}

function checkAcrossFields(problems: Problem[], intent: AppIntent): void {
  const seen = new Set<string>();
  intent.versions.forEach((v, i) => {
    if (seen.has(v.version)) report(problems, ['versions', i, 'version'], `duplicate version ${v.version}`);
    seen.add(v.version);
  });
  const live = intent.versions.filter((v) => v.state === 'live').length;
  if (live > 1) report(problems, ['versions'], 'expected at most one live version');
  if (live === 1 && !intent.service) report(problems, ['service'], 'required when a version is live');
  const ports = new Set<string>();
  intent.ports.forEach((p, i) => {
    const id = `${p.port}/${p.protocol}`;
    if (ports.has(id)) report(problems, ['ports', i], `duplicate port ${id}`);
    ports.add(id);
  });
}
