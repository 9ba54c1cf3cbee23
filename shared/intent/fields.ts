import { nameProblem } from '../names.js';
import { type PathPart, type Problem, report, wrongType } from './problems.js';

/**
 * Readers for single intent fields. Each returns the accepted value (a copy, never the caller's array)
 * or undefined after recording a fatal problem; a value of the right type that fails a pattern or a
 * range is recorded as a non-fatal problem and still returned, so cross-field checks can run on it.
 */

/** Reads one list item (or field) at `path`; the shape every reader below has. */
export type Reader<T> = (problems: Problem[], path: PathPart[], value: unknown) => T | undefined;

/** Returns `value` if it is a string, else records a fatal type problem. */
export function readString(problems: Problem[], path: PathPart[], value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return wrongType(problems, path, 'a string', value);
}

/** Returns a string, recording `message` (non-fatal) when it does not match `pattern`. */
export function readMatching(problems: Problem[], path: PathPart[], value: unknown, pattern: RegExp, message: string): string | undefined {
  const text = readString(problems, path, value);
  if (text !== undefined && !pattern.test(text)) report(problems, path, message);
  return text;
}

/** Returns a string that is safe as a folder name; `what` says whose name it is ("version", "required app"). */
export function readName(problems: Problem[], path: PathPart[], value: unknown, what: string): string | undefined {
  const text = readString(problems, path, value);
  const problem = text === undefined ? undefined : nameProblem(text);
  if (problem) report(problems, path, `${what} name ${problem}`);
  return text;
}

/** Returns an integer; a non-number or a fraction is fatal, outside min..max records "expected min..max" (non-fatal). */
export function readInteger(problems: Problem[], path: PathPart[], value: unknown, min: number, max: number): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return wrongType(problems, path, 'a number', value);
  if (!Number.isInteger(value)) return report(problems, path, 'expected an integer', true);
  if (value < min || value > max) report(problems, path, `expected ${min}..${max}`);
  return value;
}

/** Returns `value` if it is one of `options`; anything else is fatal and the message lists the options. */
export function readOneOf<T extends string>(problems: Problem[], path: PathPart[], value: unknown, options: readonly T[]): T | undefined {
  if (options.includes(value as T)) return value as T;
  const expected = options.map((o) => JSON.stringify(o)).join(' or ');
  if (typeof value !== 'string') return wrongType(problems, path, expected, value);
  return report(problems, path, `expected ${expected}, got ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`, true);
}

/** Returns a new array of the items `readItem` accepts; a non-array is fatal. */
export function readArray<T>(problems: Problem[], path: PathPart[], value: unknown, readItem: Reader<T>): T[] | undefined {
  if (!Array.isArray(value)) return wrongType(problems, path, 'an array', value);
  const out: T[] = [];
  for (let i = 0; i < value.length; i++) {
    const item = readItem(problems, [...path, i], value[i]);
    if (item !== undefined) out.push(item);
  }
  return out;
}

/** Returns a command line (program and arguments, each a non-empty string); an empty list records `emptyMessage`. */
export function readCommand(problems: Problem[], path: PathPart[], value: unknown, emptyMessage: string): string[] | undefined {
  const words = readArray(problems, path, value, readWord);
  if (Array.isArray(value) && value.length === 0) report(problems, path, emptyMessage);
  return words;
}

function readWord(problems: Problem[], path: PathPart[], value: unknown): string | undefined {
  const word = readString(problems, path, value);
  if (word === '') report(problems, path, 'expected a non-empty string');
  return word;
}
