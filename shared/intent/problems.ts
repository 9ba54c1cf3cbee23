import type * as v from 'valibot';

/**
 * What is wrong with an untrusted intent value, field by field, so one error names every problem at
 * once (an operator fixes them in one edit instead of one per failed put).
 */

/** One step from the intent's top to a field: an object key or an array index. */
export type PathPart = string | number;

/**
 * One thing wrong with the input. `fatal` marks a value of the wrong kind (wrong type, missing, not one
 * of the options): nothing built on it can be trusted, so cross-field checks over it are skipped. A
 * failed pattern or range leaves a value of the right type, so cross-field checks still run and their
 * findings are reported in the same error.
 */
export interface Problem {
  path: PathPart[];
  message: string;
  fatal: boolean;
}

/** Records a problem at `path`. */
export function report(problems: Problem[], path: PathPart[], message: string, fatal = false): void {
  problems.push({ path, message, fatal });
}

/** Names the JSON type of `value` for a message; arrays, null, NaN and Infinity are told apart from their typeof. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}

/** Valibot's issues as problems, in the order found: the path by keys and indexes, fatal for anything but a failed pattern or range. */
export function problemsFromIssues(issues: readonly v.BaseIssue<unknown>[]): Problem[] {
  return issues.map((issue) => ({
    path: (issue.path ?? []).map((item) => item.key as PathPart),
    message: issue.message,
    fatal: issue.kind !== 'validation',
  }));
}

/** Formats a path as messages name fields: `versions[0].sha256`, `service.env.1BAD`, or "(top level)". */
export function formatPath(path: readonly PathPart[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out || '(top level)';
}

/** Joins problems as "field P: message; field Q: message", in the order they were found. */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `field ${formatPath(p.path)}: ${p.message}`).join('; ');
}
