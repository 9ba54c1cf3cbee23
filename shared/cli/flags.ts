import { parseArgs } from 'node:util';

// The agents parse with node:util rather than commander (which pp uses): loading commander costs a resident
// process about 5 MB of RSS, and the agents must stay idle under 60 MB. pp declares its flags with these specs too.

/** One command-line flag, declared as data: its type, default, help text and allowed values. */
export interface FlagSpec {
  readonly type: 'string' | 'number' | 'boolean';
  readonly default?: string | number | boolean;
  readonly describe?: string;
  readonly choices?: readonly string[];
  /** Parsed but left out of --help (test-only flags). */
  readonly hidden?: boolean;
  /** One letter, for -x as well as --name. */
  readonly short?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<F> = F extends { type: 'boolean' }
  ? boolean
  : F extends { type: 'number' }
    ? number
    : F extends { choices: readonly (infer C)[] }
      ? C
      : string;

/** The parsed values of `S`: a flag with a default (or a boolean) always has a value. */
export type FlagValues<S extends FlagSpecs> = {
  -readonly [K in keyof S]: S[K] extends { type: 'boolean' } | { default: string | number | boolean }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

/** Returns `specs` unchanged; `const` keeps the literal types that FlagValues needs. */
export function defineFlags<const S extends FlagSpecs>(specs: S): S {
  return specs;
}

/** A bad command line; the message names the flag or argument and what was expected. */
export class UsageError extends Error {}

export interface ParsedFlags<S extends FlagSpecs> {
  values: FlagValues<S>;
  /** Argv entries not taken by a known flag, in order: positionals, and with passUnknown the unknown flags as written. */
  rest: string[];
  /** --help or -h was given: the caller prints help, and any other problem on the line is not reported. */
  help: boolean;
}

type Token = ReturnType<typeof parseArgs>['tokens'] extends (infer T)[] | undefined ? T : never;
type OptionToken = Extract<Token, { kind: 'option' }>;

// A value taken from the next argument that looks like a flag is almost always a forgotten value.
const looksLikeFlag = (value: string): boolean => value.length > 1 && value.startsWith('-') && Number.isNaN(Number(value));

/** Reads one known or unknown option token into `raw`; returns false for an unknown flag when passUnknown is set. */
function readOption(specs: FlagSpecs, t: OptionToken, raw: Map<string, string | boolean>, passUnknown: boolean): boolean {
  const spec = specs[t.name];
  const negated = t.name.startsWith('no-') ? specs[t.name.slice(3)] : undefined;
  if (!spec && negated?.type === 'boolean' && t.value === undefined) {
    raw.set(t.name.slice(3), false);
    return true;
  }
  if (!spec) {
    if (passUnknown) return false;
    throw new UsageError(`unknown flag ${t.rawName}`);
  }
  const flag = `--${t.name}`;
  if (spec.type === 'boolean') {
    if (t.value !== undefined && t.value !== 'true' && t.value !== 'false')
      throw new UsageError(`${flag} takes no value, got ${JSON.stringify(t.value)}`);
    raw.set(t.name, t.value !== 'false');
  } else if (t.value === undefined || (!t.inlineValue && looksLikeFlag(t.value))) {
    throw new UsageError(
      `${flag} needs a value${t.value === undefined ? '' : ` (write ${flag}=${t.value} if ${t.value} is meant as the value)`}`,
    );
  } else {
    raw.set(t.name, t.value);
  }
  return true;
}

/** The value of one flag from its raw text or its default: numbers converted, choices checked. */
function finalValue(name: string, spec: FlagSpec, raw: string | boolean | undefined): string | number | boolean | undefined {
  const given = raw ?? spec.default ?? (spec.type === 'boolean' ? false : undefined);
  let value = given;
  if (spec.type === 'number' && typeof given === 'string') {
    value = given.trim() === '' ? NaN : Number(given);
    if (!Number.isFinite(value)) throw new UsageError(`--${name}: expected a number, got ${JSON.stringify(given)}`);
  }
  if (spec.choices && value !== undefined && !spec.choices.includes(String(value))) {
    throw new UsageError(
      `--${name}: expected one of ${spec.choices.join(', ')}, got ${JSON.stringify(value)}${raw === undefined ? ' (its default)' : ''}`,
    );
  }
  return value;
}

/** Parses `argv` against `specs` (--flag value, --flag=value, --no-flag, -x); throws a UsageError naming the flag for any problem, unless --help/-h was given. */
export function parseFlags<S extends FlagSpecs>(specs: S, argv: readonly string[], opts: { passUnknown?: boolean } = {}): ParsedFlags<S> {
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, s]) => [
      name,
      { type: s.type === 'boolean' ? ('boolean' as const) : ('string' as const), ...(s.short ? { short: s.short } : {}) },
    ]),
  );
  const { tokens } = parseArgs({
    args: [...argv],
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const raw = new Map<string, string | boolean>();
  const taken = new Set<number>();
  let help = false;
  let problem: UsageError | undefined;
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      problem ??= err;
      return undefined;
    }
  };
  for (const t of tokens) {
    if (t.kind === 'option-terminator' && !opts.passUnknown) taken.add(t.index);
    if (t.kind !== 'option') continue;
    if (t.name === 'help') help = true;
    const known = t.name === 'help' || attempt(() => readOption(specs, t, raw, opts.passUnknown === true));
    if (known) taken.add(t.index);
    if (known && t.value !== undefined && !t.inlineValue) taken.add(t.index + 1);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs))
    attempt(() => {
      values[name] = finalValue(name, spec, raw.get(name));
    });
  if (problem && !help) throw problem;
  return { values: values as FlagValues<S>, rest: argv.filter((_, i) => !taken.has(i)), help };
}
