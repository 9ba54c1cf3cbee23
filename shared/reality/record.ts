import * as v from 'valibot';
import { formatProblems, problemsFromIssues } from '../intent/problems.js';
import { parseJson } from '../json-depth.js';
import { realityPrefix } from '../keys.js';
import { type KvEntry, valueTooLarge } from '../store/types.js';
import { anyObject, expecting, fieldsOf, text } from './fields.js';
import { RECORD_MEMORY, SIGNED_MEMORY } from './memory.js';

/**
 * The one codec of reality records, the value at `<prefix>/reality/<node>/<agent>/<app>`: what the agents write
 * (shared/loop/reality.ts) and what every reader (pp status, pp check, pp deploy, the agents' own writer) reads,
 * by the same rules. A value that is not a record is never guessed at: it is unreadable, and the reason names the
 * key and the field.
 */

const STATUSES = ['converged', 'pending', 'failed'] as const;

const isoTime = () =>
  v.pipe(
    text(),
    v.check(
      (at) => !Number.isNaN(Date.parse(at)),
      (issue) => `expected an ISO time, got ${JSON.stringify(issue.input)}`,
    ),
  );

/** What a pass concluded for one app: the part of a record the loop computes. */
const OUTCOME_ENTRIES = {
  app: text(),
  status: v.picklist(STATUSES, (issue) =>
    issue.input === undefined
      ? `missing: expected one of ${STATUSES.join(', ')}`
      : `expected one of ${STATUSES.join(', ')}, got ${JSON.stringify(issue.input)}`,
  ),
  /** The version the outcome is about, if any. */
  version: v.optional(text()),
  /** Why a pending app waits, or what a converged app's warning says. */
  reason: v.optional(text()),
  /** Why a failed app failed. */
  error: v.optional(text()),
  /** Failed attempts in a row (0 once it succeeds). */
  attempts: v.pipe(
    v.number(expecting('a number')),
    v.integer((issue) => `expected a whole number, got ${issue.input}`),
    v.minValue(0, (issue) => `expected 0 or more, got ${issue.input}`),
  ),
  /** What the agent shows of the app; each agent's own schema is in shared/reality/details.ts. */
  details: v.optional(anyObject()),
  /**
   * With --trusted-signers: the newest signed order the agent accepted for the app. Written beside `memory.signed`
   * for one release; readers take memoryOf(record).
   */
  signed: v.optional(SIGNED_MEMORY),
  /** What the agent remembers of the app across a restart (shared/reality/memory.ts); a report of its state file. */
  memory: v.optional(RECORD_MEMORY),
};

/** A reality record: the outcome, who wrote it, which intent it answers, and when. */
export const REALITY_RECORD = fieldsOf({
  ...OUTCOME_ENTRIES,
  /** The agent that wrote it: the same as the agent its key names. */
  agent: text(),
  /** sha256 of the app's intent the outcome answers (shared/intent/digest.ts); absent when none is valid. */
  intentDigest: v.optional(text()),
  /** When it was written. */
  at: isoTime(),
});

export type RealityRecord = v.InferOutput<typeof REALITY_RECORD>;
export type AppStatus = RealityRecord['status'];
/** What a pass concluded for one app: a record before the loop names the agent, the intent and the time. */
export type AppOutcome = Omit<RealityRecord, 'agent' | 'intentDigest' | 'at'>;

/** A decoded value: the record, or why the value at its key is not one (naming the key and the field). */
export type Decoded = { ok: true; record: RealityRecord } | { ok: false; error: string };

/**
 * The record in `json`, the value at `key`, or why it is none: not JSON, nested too deep, not an object, a field
 * missing or of the wrong type, or an app or agent other than the ones its key names.
 */
export function decodeRecord(key: string, json: string): Decoded {
  const why = (problem: string): Decoded => ({ ok: false, error: `reality record at key ${key}: ${problem}` });
  let value: unknown;
  try {
    value = parseJson(json);
  } catch (err) {
    const message = (err as Error).message;
    return why(err instanceof SyntaxError ? `not JSON (${message})` : message);
  }
  const parsed = v.safeParse(REALITY_RECORD, value);
  if (!parsed.success) return why(formatProblems(problemsFromIssues(parsed.issues)));
  const record = parsed.output;
  const [agent, app] = key.split('/').slice(-2);
  if (record.app !== app)
    return why(`field app: expected ${JSON.stringify(app)}, the app its key names, got ${JSON.stringify(record.app)}`);
  if (record.agent !== agent)
    return why(`field agent: expected ${JSON.stringify(agent)}, the agent its key names, got ${JSON.stringify(record.agent)}`);
  return { ok: true, record };
}

/** decodeRecord of a store entry, which may have come without its value because it is too large to read. */
export function decodeEntry(entry: KvEntry): Decoded {
  if (entry.tooLarge !== undefined) return { ok: false, error: `reality record at key ${entry.key}: ${valueTooLarge(entry.tooLarge)}` };
  return decodeRecord(entry.key, entry.value);
}

/** One app's record of one agent on one node, as found in a read of reality, or why it cannot be read. */
export type RealityEntry = { key: string; node: string; agent: string; app: string } & (
  | { record: RealityRecord; error?: undefined }
  | { record?: undefined; error: string }
);

/**
 * The records among `entries`, from a read of `<prefix>/reality/` or of any folder below it, each decoded and
 * placed by its key. Markers (`.heartbeat`, any name starting with a dot) and keys at other depths are not records
 * and are left out; a value that is not a record comes with the reason instead.
 */
export function realityEntries(prefix: string, entries: readonly KvEntry[]): RealityEntry[] {
  const base = realityPrefix(prefix);
  const out: RealityEntry[] = [];
  for (const e of entries) {
    if (!e.key.startsWith(base)) continue;
    const [node, agent, app, ...more] = e.key.slice(base.length).split('/');
    if (!node || !agent || !app || app.startsWith('.') || more.length > 0) continue;
    const decoded = decodeEntry(e);
    const at = { key: e.key, node, agent, app };
    out.push(decoded.ok ? { ...at, record: decoded.record } : { ...at, error: decoded.error });
  }
  return out;
}
