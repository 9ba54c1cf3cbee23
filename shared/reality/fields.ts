import * as v from 'valibot';
import { typeName } from '../intent/problems.js';

/**
 * The pieces the reality schemas are made of, with messages in the form operators know from intent: "expected a
 * string, got number", "missing: expected a string".
 */

type IssueMessage = (issue: v.BaseIssue<unknown>) => string;

/** "expected a string, got number", or "missing: expected a string" when the field is absent. */
export const expecting =
  (what: string): IssueMessage =>
  (issue) =>
    issue.input === undefined ? `missing: expected ${what}` : `expected ${what}, got ${typeName(issue.input)}`;

export const text = () => v.string(expecting('a string'));

/** Valibot's object schemas take an array for an object: this check comes first. */
const plainObject = () =>
  v.custom<Record<string, unknown>>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    expecting('an object'),
  );

/** A missing field is reported by the object; this gives it the message of the field's own schema. */
const missingOf =
  (entries: v.ObjectEntries): IssueMessage =>
  (issue) => {
    const key = issue.path?.[issue.path.length - 1]?.key;
    const message = typeof key === 'string' && Object.hasOwn(entries, key) ? (entries[key] as { message?: unknown }).message : undefined;
    if (typeof message === 'function') return (message as IssueMessage)({ ...issue, input: undefined });
    return typeof message === 'string' ? message : 'missing';
  };

/** An object with these fields; others are dropped (a later agent's field does not make the value unreadable). */
export const fieldsOf = <const E extends v.ObjectEntries>(entries: E) => v.pipe(plainObject(), v.object(entries, missingOf(entries)));

/** An object with these fields; others are kept as they are. */
export const looseFieldsOf = <const E extends v.ObjectEntries>(entries: E) =>
  v.pipe(plainObject(), v.looseObject(entries, missingOf(entries)));

/** Any JSON object, not looked into (what each agent puts in it has its own schema, shared/reality/details.ts). */
export const anyObject = plainObject;
