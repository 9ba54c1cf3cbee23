import * as v from 'valibot';
import { nameProblem, SAFE_NAME_PATTERN } from '../names.js';
import { typeName } from './problems.js';
import { CORE_SECTIONS, checks, ownerSentence, type SectionName } from './sections.js';

/**
 * The structure of an app intent as a valibot schema: types, patterns, ranges, defaults, unknown fields,
 * and the one rule inside a single object (health: exactly one of http or command). Rules across
 * fields of the whole intent are checked by hand in schema.ts and only named in the descriptions here,
 * which become the published JSON Schema (json-schema.ts).
 *
 * Each agent checks the intent with the schema of its reader (schemaFor): sections it neither owns nor shares as core
 * are passed over (sections.ts).
 *
 * Messages keep the form operators know: "expected a string, got number", "missing: expected …".
 * A schema issue (wrong type, missing, not an option) makes the value untyped, so cross-field checks
 * are skipped; a failed pattern or range is a validation issue that leaves it typed.
 */

type IssueMessage = (issue: v.BaseIssue<unknown>) => string;

/** The message of a field no schema here knows. */
export const UNKNOWN_FIELD = 'unknown field';

/** "expected a string, got number", or "missing: expected a string" when the field is absent. */
export const expecting =
  (what: string): IssueMessage =>
  (issue) =>
    issue.input === undefined ? `missing: expected ${what}` : `expected ${what}, got ${typeName(issue.input)}`;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The object check alone: valibot's own object schemas take arrays for objects. */
const plainObject = () => v.custom<Record<string, unknown>>(isPlainObject, expecting('an object'));

/**
 * An object with exactly these fields: each unknown one is reported ("unknown field"), so a misspelt
 * field is never silently ignored. A missing field gets the message of its own schema, so it reads
 * "missing: expected a string" rather than naming the object.
 */
function fields<const E extends v.ObjectEntries>(entries: E): v.GenericSchema<unknown, v.InferOutput<v.ObjectSchema<E, undefined>>> {
  const missing: IssueMessage = (issue) => {
    const key = issue.path?.[0]?.key;
    const message = typeof key === 'string' && Object.hasOwn(entries, key) ? (entries[key] as { message?: unknown }).message : undefined;
    if (typeof message === 'function') return (message as IssueMessage)(issue);
    return typeof message === 'string' ? message : 'missing';
  };
  // valibot types the output with the rest's index signature, `never` here: no key outside `entries` gets through,
  // so the output is the entries' output alone, as an object schema's is.
  return v.pipe(plainObject(), v.rawCheck(refuseHiddenKeys(entries)), v.objectWithRest(entries, v.never(UNKNOWN_FIELD), missing));
}

// valibot's object schemas pass over these keys when they look for unknown ones.
const HIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Reports a field named like one of HIDDEN_KEYS; the fields are then not read (an intent that odd is not worth more). */
const refuseHiddenKeys =
  (entries: v.ObjectEntries) =>
  ({ dataset, addIssue }: v.RawCheckContext<Record<string, unknown>>) => {
    if (!dataset.typed) return;
    const input = dataset.value;
    for (const key of HIDDEN_KEYS) {
      if (Object.hasOwn(input, key) && !Object.hasOwn(entries, key)) {
        addIssue({ message: UNKNOWN_FIELD, path: [{ type: 'object', origin: 'key', input, key, value: input[key] }] });
      }
    }
  };

const text = () => v.string(expecting('a string'));
const matching = (pattern: RegExp, message: string) => v.pipe(text(), v.regex(pattern, message));

/** A string that is safe as a folder name; `what` says whose name it is ("version", "required app"). */
const safeName = (what: string) =>
  v.pipe(
    text(),
    v.regex(SAFE_NAME_PATTERN, (issue) => `${what} name ${nameProblem(issue.input) ?? 'is not safe'}`),
  );

const integer = (min: number, max: number) =>
  v.pipe(
    v.number(expecting('a number')),
    v.integer('expected an integer'),
    v.minValue(min, `expected ${min}..${max}`),
    v.maxValue(max, `expected ${min}..${max}`),
  );

function oneOf<const T extends string>(options: readonly T[]) {
  const expected = options.map((o) => JSON.stringify(o)).join(' or ');
  return v.picklist(options, (issue) => {
    if (typeof issue.input !== 'string') return expecting(expected)(issue);
    return `expected ${expected}, got ${JSON.stringify(issue.input.length > 40 ? `${issue.input.slice(0, 40)}…` : issue.input)}`;
  });
}

/** Documented limits, so a hostile or mistaken intent fails validation, naming the field, rather than at exec. */
export const LIMITS = {
  versions: 100,
  ports: 100,
  requires: 100,
  commandWords: 256,
  wordChars: 4096,
  envVars: 256,
  envValueChars: 32_768,
  /** All env names and values together, in bytes: Linux refuses more than 128 KiB in one string, and less is plenty. */
  envBytes: 65_536,
  basedirChars: 1024,
  urlChars: 4096,
} as const;

const NO_NUL = /^[^\0]*$/;
const NO_CONTROL = /^[^\0-\x1f\x7f]*$/;

/** A program and its arguments, each a non-empty string without NUL (argv cannot carry one). */
const command = () =>
  v.pipe(
    v.array(
      v.pipe(
        text(),
        v.minLength(1, 'expected a non-empty string'),
        v.maxLength(LIMITS.wordChars, `expected at most ${LIMITS.wordChars} characters`),
        v.regex(NO_NUL, 'must not contain a NUL byte'),
      ),
      expecting('an array'),
    ),
    v.minLength(1, 'expected at least the program to run'),
    v.maxLength(LIMITS.commandWords, `expected at most ${LIMITS.commandWords} words`),
  );

export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_NAME_MESSAGE = 'expected an environment variable name (a letter or _, then letters, digits or _)';

/** The head of `env`, exported so the JSON Schema can describe env there (its entries are read by hand below). */
export const ENV_OBJECT = plainObject();

/**
 * Environment variables by name. Read by hand because valibot's record skips a key named __proto__
 * (and takes arrays); fromEntries keeps __proto__ as a variable instead of setting the prototype.
 * A bad name or value is fatal, as a wrong type is.
 */
const env = v.pipe(
  ENV_OBJECT,
  v.rawTransform(({ dataset, addIssue }) => {
    const input = dataset.value;
    const entries: Array<[string, string]> = [];
    for (const key of Object.keys(input)) {
      const value = input[key];
      const at = (origin: 'key' | 'value'): [v.ObjectPathItem] => [{ type: 'object', origin, input, key, value }];
      if (!ENV_NAME_PATTERN.test(key)) addIssue({ message: ENV_NAME_MESSAGE, path: at('key'), input: key });
      else if (typeof value !== 'string')
        addIssue({ message: expecting('a string')({ input: value } as v.BaseIssue<unknown>), path: at('value'), input: value });
      else if (value.includes('\0'))
        addIssue({ message: 'must not contain a NUL byte (an environment value cannot carry one)', path: at('value'), input: value });
      else if (value.length > LIMITS.envValueChars)
        addIssue({ message: `expected at most ${LIMITS.envValueChars} characters, got ${value.length}`, path: at('value'), input: value });
      else entries.push([key, value]);
    }
    return Object.fromEntries(entries) as Record<string, string>;
  }),
);

/** Absolute and normalized: names of 1..255 characters (no control character) joined by single '/', none of them '.' or '..'. */
const NORMAL_PATH = /^(?:\/(?!\.\.?(?:\/|$))[^/\0-\x1f\x7f]{1,255})+$/;

function basedirProblem(path: string): string {
  if (!/^\/./.test(path)) return 'expected an absolute path';
  if (path.split('/').includes('..')) return "must not contain '..'";
  if (!NO_CONTROL.test(path)) return 'must not contain control characters or NUL';
  if (path.split('/').some((name) => name.length > 255)) return 'expected each name in the path to be at most 255 characters';
  return "expected a normalized absolute path: no '//', no '.' segment, no trailing '/'";
}

const version = v.pipe(
  fields({
    version: v.pipe(safeName('version'), v.description('Version name; the install folder is <basedir>/installs/<app>_<version>.')),
    url: v.pipe(
      text(),
      v.regex(/^(file|https?):\/\/[^\0-\x20\x7f]*$/, (issue) =>
        /^(file|https?):\/\//.test(String(issue.input))
          ? 'must not contain spaces, control characters or NUL'
          : 'expected a file://, http:// or https:// URL',
      ),
      v.maxLength(LIMITS.urlChars, `expected at most ${LIMITS.urlChars} characters`),
      v.description('Where the artifact (a .tar.gz) is fetched from.'),
    ),
    sha256: v.pipe(
      matching(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters'),
      v.description('SHA-256 of the artifact, checked before it is installed.'),
    ),
    size: v.optional(
      v.pipe(
        integer(1, Number.MAX_SAFE_INTEGER),
        v.description(
          "The artifact's exact length in bytes (compressed), when known: pp-preparer refuses an artifact of any other length, and stops reading at the first byte too many.",
        ),
      ),
    ),
    state: v.pipe(
      oneOf(['prepared', 'live']),
      v.description('prepared: installed only; live: installed and the version the service runs.'),
    ),
  }),
  v.description('One version of the app.'),
);

const port = v.pipe(
  fields({
    port: v.pipe(integer(1, 65535), v.description('Port number.')),
    protocol: v.pipe(v.optional(oneOf(['tcp', 'udp']), 'tcp'), v.description('Protocol.')),
  }),
  v.description('A port the app listens on, opened by pp-iptables.'),
);

const service = v.pipe(
  fields({
    command: v.pipe(
      command(),
      v.description(
        'Program and arguments; the program is relative to the install folder (or found on PATH), and neither starts with - nor contains = (checked by pp validate and the agents).',
      ),
    ),
    env: v.pipe(
      v.optional(env, () => ({})),
      v.description('Environment variables of the service.'),
    ),
    user: v.optional(v.pipe(matching(/^[a-z_][a-z0-9_-]*$/, 'expected a user name'), v.description('User the service runs as.'))),
  }),
  v.description(
    `What runs the live version. Required when a version is live (a rule across fields: checked by pp validate and the agents, not by this schema). ${ownerSentence('service')}`,
  ),
);

const healthFields = fields({
  http: v.optional(
    v.pipe(matching(/^https?:\/\//, 'expected an http:// or https:// URL'), v.description('URL that answers 2xx when the app is healthy.')),
  ),
  command: v.optional(v.pipe(command(), v.description('Program that exits 0 when the app is healthy.'))),
  timeoutMs: v.pipe(v.optional(integer(100, 600_000), 30_000), v.description('How long the app has to become healthy, in milliseconds.')),
});

/** The one rule inside health; exported so the JSON Schema can say the same with oneOf. */
export const ONE_HEALTH_CHECK = v.check(
  (h: v.InferOutput<typeof healthFields>) => (h.http === undefined) !== (h.command === undefined),
  'expected exactly one of http or command',
);

const health = v.pipe(
  healthFields,
  ONE_HEALTH_CHECK,
  v.description(
    `How pp-setlive tells that a version is healthy: exactly one of http (a 2xx answer) or command (exit 0). ${ownerSentence('health')}`,
  ),
);

const rollout = v.pipe(
  fields({
    maxParallel: v.pipe(
      v.optional(integer(1, 10_000), 1),
      v.description(
        'How many nodes may have this app in a flip at once, fleet-wide (a first start or a restart of a crashed process takes no slot).',
      ),
    ),
    minHealthySeconds: v.pipe(
      v.optional(integer(0, 86_400), 0),
      v.description('How long a new version must pass its check, continuously, before its node gives its slot back.'),
    ),
    maxFailures: v.pipe(
      v.optional(integer(1, 10_000), 1),
      v.description("Once this many nodes have failed a version's health check (and rolled back), no other node tries it."),
    ),
  }),
  v.description(
    `Paces flips across nodes through the store (a semaphore per app) and stops a version that fails on maxFailures nodes everywhere. Absent: each node flips on its own. ${ownerSentence('rollout')}`,
  ),
);

/** Each section's schema, by name: the fields of the whole intent, in this order. */
const SECTION_SCHEMAS = {
  schema: v.pipe(v.literal(1, 'expected schema version 1'), v.description(`Version of this format. ${ownerSentence('schema')}`)),
  basedir: v.pipe(
    text(),
    v.regex(NORMAL_PATH, (issue) => basedirProblem(String(issue.input))),
    v.maxLength(LIMITS.basedirChars, `expected at most ${LIMITS.basedirChars} characters`),
    v.description(
      `Absolute, normalized folder of the app on the node, not shared with or nested in another app's basedir on the node (checked by the agents and pp intent put). ${ownerSentence('basedir')}`,
    ),
  ),
  versions: v.pipe(
    v.optional(v.array(version, expecting('an array')), () => []),
    v.maxLength(LIMITS.versions, `expected at most ${LIMITS.versions} versions`),
    v.description(
      `Versions to keep on the node. At most one is live, and version names are unique (rules across entries: checked by pp validate and the agents, not by this schema). ${ownerSentence('versions')}`,
    ),
  ),
  ports: v.pipe(
    v.optional(v.array(port, expecting('an array')), () => []),
    v.maxLength(LIMITS.ports, `expected at most ${LIMITS.ports} ports`),
    v.description(
      `Ports to open. Each port/protocol pair appears once (checked by pp validate and the agents, not by this schema). ${ownerSentence('ports')}`,
    ),
  ),
  service: v.optional(service),
  health: v.optional(health),
  requires: v.pipe(
    v.optional(v.array(safeName('required app'), expecting('an array')), () => []),
    v.maxLength(LIMITS.requires, `expected at most ${LIMITS.requires} apps`),
    v.description(
      `Apps that must be live and healthy on this node before this one is flipped. An app does not require itself (checked by pp validate and the agents, which know the app name from the key). ${ownerSentence('requires')}`,
    ),
  ),
  rollout: v.optional(rollout),
} satisfies Record<SectionName, v.GenericSchema>;

/**
 * The schema of a section as `reader` checks it: as it is, or, for a section it passes over, one that takes any value
 * and yields what the section's absence means (the reader does not act on it, so it does not read it).
 */
function sectionFor<const S extends SectionName>(reader: string | undefined, section: S) {
  const schema: v.GenericSchema<unknown, v.InferOutput<(typeof SECTION_SCHEMAS)[S]>> = SECTION_SCHEMAS[section];
  if (checks(reader, section)) return schema;
  // A fresh default each time: an array shared by every intent would be one intent's to change.
  return v.fallback(schema, () => v.getDefault(schema));
}

/** The whole app intent as `reader` checks it (undefined: every section, as pp checks). */
function intentSchema(reader: string | undefined) {
  return v.pipe(
    fields({
      schema: sectionFor(reader, 'schema'),
      basedir: sectionFor(reader, 'basedir'),
      versions: sectionFor(reader, 'versions'),
      ports: sectionFor(reader, 'ports'),
      service: sectionFor(reader, 'service'),
      health: sectionFor(reader, 'health'),
      requires: sectionFor(reader, 'requires'),
      rollout: sectionFor(reader, 'rollout'),
    }),
    v.title('Platypus app intent'),
    v.description(
      'What one node needs to run one app, stored as JSON at <prefix>/intent/<node>/<app>. This schema checks the structure; ' +
        'rules across fields are checked by pp validate, pp intent put and the agents: at most one live version, a service when a version is live, ' +
        'unique version names, each port/protocol once, and no app requiring itself. ' +
        `Every agent checks the core (${CORE_SECTIONS.join(', ')}); any other section is checked by the agent that acts on it, and the other agents pass over it.`,
    ),
  );
}

/** The whole app intent, every section checked; its output is a fresh, defaulted AppIntent with keys in this order. */
export const APP_INTENT = intentSchema(undefined);

const readers = new Map<string, typeof APP_INTENT>();

/** The schema agent `reader` checks intent with: the core and its own sections checked, the other sections passed over. */
export function schemaFor(reader: string | undefined): typeof APP_INTENT {
  if (reader === undefined) return APP_INTENT;
  const known = readers.get(reader);
  if (known) return known;
  const schema = intentSchema(reader);
  readers.set(reader, schema);
  return schema;
}
