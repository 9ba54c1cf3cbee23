import * as v from 'valibot';
import { platypusVersion } from '../cli/version.js';
import { formatProblems, type Problem, problemsFromIssues, report } from './problems.js';
import { checks, type SectionName } from './sections.js';
import { type APP_INTENT, LIMITS, schemaFor, UNKNOWN_FIELD } from './structure.js';

/**
 * The JSON stored at `<prefix>/intent/<node>/<app>`: everything one node needs to run one app.
 * Its structure is the valibot schema in structure.ts (also published as JSON Schema by `pp schema`);
 * the rules across fields are checked here.
 */

/** An app's intent as validated: fresh, defaults filled in. Its type is the schema's output, so the two cannot drift. */
export type AppIntent = v.InferOutput<typeof APP_INTENT>;
export type VersionIntent = AppIntent['versions'][number];
export type PortIntent = AppIntent['ports'][number];
export type ServiceIntent = NonNullable<AppIntent['service']>;
export type HealthIntent = NonNullable<AppIntent['health']>;
export type RolloutIntent = NonNullable<AppIntent['rollout']>;

export type Checked = { ok: true; intent: AppIntent } | { ok: false; problems: Problem[] };

/**
 * Checks a parsed JSON value as an app intent: a fresh, defaulted intent, or every problem found (each with its field
 * path). `reader` names the agent that reads it: the core and that agent's sections are checked, and a section another
 * agent owns is passed over (its absence stands in for it when it does not pass); an unknown field is refused and
 * the agent says which version it is. Without a reader (pp) every section is checked.
 */
export function checkAppIntent(raw: unknown, reader?: string): Checked {
  const result = v.safeParse(schemaFor(reader), raw);
  const problems = result.issues ? problemsFromIssues(result.issues) : [];
  if (reader !== undefined) for (const p of problems) if (p.message === UNKNOWN_FIELD) p.message = unknownToAgent(reader);
  // Cross-field checks need every field of the right type; pattern and range problems do not stop them.
  if (result.typed) checkAcrossFields(problems, result.output, (section) => checks(reader, section));
  return problems.length === 0 && result.typed ? { ok: true, intent: result.output } : { ok: false, problems };
}

let version: string | undefined;

/** What an agent says of a field it does not know: it may be one a later version introduced. */
function unknownToAgent(reader: string): string {
  version ??= platypusVersion();
  return `${UNKNOWN_FIELD}: ${reader} ${version} knows no such field (if a later Platypus introduced it, upgrade this agent)`;
}

/** Returns a fresh, defaulted intent from `raw`, or throws "invalid intent: field P: message; ..." naming every problem. */
export function parseAppIntent(raw: unknown): AppIntent {
  const checked = checkAppIntent(raw);
  if (!checked.ok) throw new Error(`invalid intent: ${formatProblems(checked.problems)}`);
  return checked.intent;
}

/** The rules across fields, in the order they are reported; each is checked when `checked` says its section is. */
function checkAcrossFields(problems: Problem[], intent: AppIntent, checked: (section: SectionName) => boolean): void {
  if (checked('basedir')) {
    for (const name of intent.basedir.split('/')) {
      if (Buffer.byteLength(name) > 255)
        report(problems, ['basedir'], `expected each name in the path to be at most 255 bytes, got ${Buffer.byteLength(name)}`);
    }
  }
  if (checked('service')) {
    const program = intent.service?.command[0];
    // The run script execs the command; a program named like an option or an assignment would be read as one.
    if (program !== undefined && (program.startsWith('-') || program.includes('='))) {
      report(problems, ['service', 'command', 0], "expected a program: it must not start with '-' nor contain '='");
    }
    const envBytes = Object.entries(intent.service?.env ?? {}).reduce(
      (n, [k, val]) => n + Buffer.byteLength(k) + Buffer.byteLength(val) + 2,
      0,
    );
    if (envBytes > LIMITS.envBytes)
      report(problems, ['service', 'env'], `expected at most ${LIMITS.envBytes} bytes of names and values, got ${envBytes}`);
    if (Object.keys(intent.service?.env ?? {}).length > LIMITS.envVars)
      report(problems, ['service', 'env'], `expected at most ${LIMITS.envVars} variables`);
  }
  const live = intent.versions.filter((ver) => ver.state === 'live').length;
  if (checked('versions')) {
    const seen = new Set<string>();
    intent.versions.forEach((ver, i) => {
      if (seen.has(ver.version)) report(problems, ['versions', i, 'version'], `duplicate version ${ver.version}`);
      seen.add(ver.version);
    });
    if (live > 1) report(problems, ['versions'], 'expected at most one live version');
  }
  if (checked('service') && live === 1 && !intent.service) report(problems, ['service'], 'required when a version is live');
  if (checked('ports')) {
    const ports = new Set<string>();
    intent.ports.forEach((p, i) => {
      const id = `${p.port}/${p.protocol}`;
      if (ports.has(id)) report(problems, ['ports', i], `duplicate port ${id}`);
      ports.add(id);
    });
  }
}
