import * as v from 'valibot';
import { expecting, fieldsOf, looseFieldsOf, text } from './fields.js';

/**
 * What a reality record says an agent remembers of one app across a restart, apart from `details` (what is
 * shown). The agent itself recalls it from its state file on the node's disk (shared/loop/agent-state.ts), never
 * from reality, which others can write: the record's `memory` is a report of it, for operators and tools.
 */

/** The trust gate's memory of an app (shared/trust/gate.ts): the newest signed order this agent accepted for it. */
export const SIGNED_MEMORY = fieldsOf({
  /** ISO time of the newest accepted order; absent for an app known but never accepted signed. */
  at: v.optional(text()),
  /** The signer's principal, from allowed_signers. */
  by: v.optional(text()),
  /** The order removed the app. */
  removed: v.optional(v.boolean(expecting('true or false'))),
  /** sha256 of the accepted order's signed text: a different order signed at the same instant is refused. */
  digest: v.optional(text()),
});

export type SignedMemory = v.InferOutput<typeof SIGNED_MEMORY>;

/** pp-preparer's memory of an app: where its installs are, and the basedirs intent moved it away from. */
export const PREPARER_MEMORY = {
  basedir: v.optional(text()),
  formerBasedirs: v.optional(v.array(text(), expecting('an array of strings'))),
} as const;

/**
 * A record's `memory`: the trust gate's `signed` (any agent run with --trusted-signers) beside the agent's own
 * fields. Fields of other agents are kept as they are, so a reader of an older version loses nothing it passes on.
 */
export const RECORD_MEMORY = looseFieldsOf({ signed: v.optional(SIGNED_MEMORY), ...PREPARER_MEMORY });

export type RecordMemory = v.InferOutput<typeof RECORD_MEMORY>;

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((s) => typeof s === 'string');

/**
 * What `record` says its agent remembers: its `memory` when it has one; else, for a record written before `memory`
 * existed, what rode elsewhere then: `details.basedir` and `details.formerBasedirs` (pp-preparer) and the top-level
 * `signed` (the trust gate). Agents write both forms for one release, so either reader understands either writer.
 */
export function memoryOf(record: { memory?: RecordMemory; details?: Record<string, unknown>; signed?: SignedMemory }): RecordMemory {
  if (record.memory) return record.memory;
  const d = record.details ?? {};
  return {
    ...(typeof d.basedir === 'string' ? { basedir: d.basedir } : {}),
    ...(isStrings(d.formerBasedirs) ? { formerBasedirs: d.formerBasedirs } : {}),
    ...(record.signed ? { signed: record.signed } : {}),
  };
}
