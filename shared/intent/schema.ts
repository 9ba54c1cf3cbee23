import * as v from 'valibot';
import { formatProblems, type Problem, problemsFromIssues, report } from './problems.js';
import { APP_INTENT } from './structure.js';

/**
 * The JSON stored at `<prefix>/intent/<node>/<app>`: everything one node needs to run one app.
 * Its structure is the valibot schema in structure.ts (also published as JSON Schema by `pp schema`);
 * the rules across fields are checked here.
 */

export interface VersionIntent {
  version: string;
  url: string;
  sha256: string;
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

/** Checks a parsed JSON value as an app intent: a fresh, defaulted intent, or every problem found (each with its field path). */
export function checkAppIntent(raw: unknown): Checked {
  const result = v.safeParse(APP_INTENT, raw);
  const problems = result.issues ? problemsFromIssues(result.issues) : [];
  // Cross-field checks need every field of the right type; pattern and range problems do not stop them.
  const intent = result.output as AppIntent;
  if (result.typed) checkAcrossFields(problems, intent);
  return problems.length === 0 ? { ok: true, intent } : { ok: false, problems };
}

/** Returns a fresh, defaulted intent from `raw`, or throws "invalid intent: field P: message; ..." naming every problem. */
export function parseAppIntent(raw: unknown): AppIntent {
  const checked = checkAppIntent(raw);
  if (!checked.ok) throw new Error(`invalid intent: ${formatProblems(checked.problems)}`);
  return checked.intent;
}

function checkAcrossFields(problems: Problem[], intent: AppIntent): void {
  const seen = new Set<string>();
  intent.versions.forEach((ver, i) => {
    if (seen.has(ver.version)) report(problems, ['versions', i, 'version'], `duplicate version ${ver.version}`);
    seen.add(ver.version);
  });
  const live = intent.versions.filter((ver) => ver.state === 'live').length;
  if (live > 1) report(problems, ['versions'], 'expected at most one live version');
  if (live === 1 && !intent.service) report(problems, ['service'], 'required when a version is live');
  const ports = new Set<string>();
  intent.ports.forEach((p, i) => {
    const id = `${p.port}/${p.protocol}`;
    if (ports.has(id)) report(problems, ['ports', i], `duplicate port ${id}`);
    ports.add(id);
  });
}
