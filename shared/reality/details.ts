import * as v from 'valibot';
import type { RealityRecord } from './record.js';

/**
 * What each agent shows of an app in its record's `details`. Here, not in the agents' folders, because pp reads
 * them (pp deploy follows the preparer's `present` and pp-setlive's `current`) and shared/ and pp/ import no agent.
 * The agents build their details as these types, so writer and reader cannot drift. A field missing is fine
 * (records of older agents lack some); a field of the wrong type makes the details unreadable, not the record.
 */

const versions = () => v.array(v.string());
/** Version → text (why it waits, its last error). */
const byVersion = () => v.record(v.string(), v.string());

/** pp-preparer's details. */
export const PREPARER_DETAILS = v.object({
  /** The app's basedir (also in `memory`). */
  basedir: v.optional(v.string()),
  /** Versions installed and verified. */
  present: v.optional(versions()),
  /** Version → why it is not installed yet. */
  pending: v.optional(byVersion()),
  /** Version → the last error installing it. */
  failures: v.optional(byVersion()),
  /** The install `<basedir>/current` points to, if any. */
  current: v.optional(v.nullable(v.string())),
  /** Installs intent no longer names that stay (what current and last point to, the newest --keep others). */
  kept: v.optional(v.array(v.string())),
  /** Basedirs intent moved the app away from while installs are left there (also in `memory`). */
  formerBasedirs: v.optional(v.array(v.string())),
});

/** pp-setlive's details: the versions `current` and `last` point to, and `live: null` when none is intended live. */
export const SETLIVE_DETAILS = v.object({
  current: v.optional(v.nullable(v.string())),
  last: v.optional(v.nullable(v.string())),
  live: v.optional(v.null()),
});

/** pp-iptables' details: the app's open ports (`8080/tcp`), natively per family, or port_authority's ports file. */
export const IPTABLES_DETAILS = v.object({
  open: v.optional(v.array(v.string())),
  open6: v.optional(v.array(v.string())),
  ports: v.optional(v.array(v.string())),
  /** port_authority mode: the ports file was rewritten and its refresh has not been seen yet. */
  refreshPending: v.optional(v.boolean()),
});

export type PreparerDetails = v.InferOutput<typeof PREPARER_DETAILS>;
export type SetliveDetails = v.InferOutput<typeof SETLIVE_DETAILS>;
export type IptablesDetails = v.InferOutput<typeof IPTABLES_DETAILS>;

/** Each agent's details schema, by agent name. */
export const AGENT_DETAILS = { preparer: PREPARER_DETAILS, setlive: SETLIVE_DETAILS, iptables: IPTABLES_DETAILS } as const;

export type AgentWithDetails = keyof typeof AGENT_DETAILS;

/** The details of a record of `agent`, typed; undefined when it has none or they do not match the agent's schema. */
export function detailsOf<A extends AgentWithDetails>(
  agent: A,
  record: Pick<RealityRecord, 'details'> | undefined,
): v.InferOutput<(typeof AGENT_DETAILS)[A]> | undefined {
  if (!record?.details) return undefined;
  const parsed = v.safeParse(AGENT_DETAILS[agent], record.details);
  return parsed.success ? (parsed.output as v.InferOutput<(typeof AGENT_DETAILS)[A]>) : undefined;
}
