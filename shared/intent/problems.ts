/**
 * Collecting what is wrong with an untrusted intent value, field by field, so one error names every
 * problem at once (an operator fixes them in one edit instead of one per failed put).
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

/** Records a problem at `path` and returns undefined, so a reader can `return report(...)`. */
export function report(problems: Problem[], path: PathPart[], message: string, fatal = false): undefined {
  problems.push({ path, message, fatal });
  return undefined;
}

/** True when a problem recorded at index `from` or later is fatal (its value is unusable). */
export function hasFatal(problems: readonly Problem[], from: number): boolean {
  for (let i = from; i < problems.length; i++) if (problems[i]?.fatal) return true;
  return false;
}

/** Names the JSON type of `value` for a message; arrays, null, NaN and Infinity are told apart from their typeof. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}

/** Records a fatal "expected a string, got number" (or "missing: expected a string" for an absent field). */
export function wrongType(problems: Problem[], path: PathPart[], expected: string, value: unknown): undefined {
  const message = value === undefined ? `missing: expected ${expected}` : `expected ${expected}, got ${typeName(value)}`;
  return report(problems, path, message, true);
}

/** Returns `value` as a key/value object (not null, not an array), or records a fatal type problem. */
export function readObject(problems: Problem[], path: PathPart[], value: unknown): Record<string, unknown> | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  return wrongType(problems, path, 'an object', value);
}

/** Reads an own property only: "constructor" or "toString" must never be found on the prototype. */
export function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Records "unknown field" at each own key of `obj` not in `known`: a misspelt field must not be silently ignored. */
export function reportUnknown(problems: Problem[], path: PathPart[], obj: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const key of Object.keys(obj)) if (!known.has(key)) report(problems, [...path, key], 'unknown field');
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
