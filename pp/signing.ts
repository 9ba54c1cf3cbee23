import { PP_EXIT } from '../shared/exit-codes.js';
import type { KvEntry } from '../shared/store/types.js';
import type { SignOptions } from '../shared/trust/envelope.js';
import { liveHeartbeats, type NodeBeats, nodeHeartbeats } from './heartbeats.js';
import { CliError } from './read-spec.js';

/** The --sign-key flag of every pp command that writes intent. */
export const SIGN_KEY = {
  'sign-key': {
    type: 'string',
    describe:
      'sign with this SSH key through ssh-keygen -Y sign (a private key, or the public key of one held by ssh-agent or a hardware key), for agents run with --trusted-signers',
  },
} as const;

/** The signing options of --sign-key, or none. */
export const signWith = (key: string | undefined): SignOptions | undefined => (key ? { keyPath: key } : undefined);

/** Signs through ssh-keygen; a failure (no key, wrong passphrase, no agent) is bad input: exit 2, nothing written. */
export async function signed<T>(what: string, sign: () => Promise<T>): Promise<T> {
  try {
    return await sign();
  } catch (err) {
    throw new CliError(`cannot sign ${what}: ${(err as Error).message}`, PP_EXIT.usage);
  }
}

/** The agents among `beats` that act only on signed intent: running ones whose heartbeat says --trusted-signers. */
export function signedOnlyOf(beats: NodeBeats, now = Date.now()): string[] {
  return [...liveHeartbeats(beats, now)]
    .filter(([, beat]) => beat.requiresSignatures === true)
    .map(([agent]) => agent)
    .sort();
}

/**
 * The agents of `node` that act only on signed intent, from the node's reality entries: those whose heartbeat says
 * they run with --trusted-signers and is a running agent's (a cleanly stopped or long silent one does not count).
 */
export function signedOnlyAgents(prefix: string, node: string, reality: KvEntry[], now = Date.now()): string[] {
  return signedOnlyOf(nodeHeartbeats(prefix, node, reality), now);
}

/** For each node of `beats`, its agents that act only on signed intent (nodes with none are left out). */
export function signedOnlyNodes(beats: ReadonlyMap<string, NodeBeats>, now = Date.now()): Map<string, string[]> {
  return new Map([...beats].map(([node, b]) => [node, signedOnlyOf(b, now)] as const).filter(([, agents]) => agents.length > 0));
}

const SHOWN = 10;

/**
 * Refuses (exit 2, as other bad input) to write unsigned intent to nodes whose agents would refuse it: they would
 * keep running what they run and report the app failed, node by node, after pp said it wrote it.
 */
export function refuseUnsigned(signedOnly: Map<string, string[]>): void {
  if (signedOnly.size === 0) return;
  const named = [...signedOnly].map(([node, agents]) => `node ${node} (agent${agents.length > 1 ? 's' : ''} ${agents.join(', ')})`);
  const list = named.length > SHOWN ? `${named.slice(0, SHOWN).join(', ')} and ${named.length - SHOWN} more` : named.join(', ');
  throw new CliError(
    `refused to write unsigned intent to ${list}: their heartbeats say they run with --trusted-signers and act only on signed intent; sign it with --sign-key KEY (nothing written)`,
    PP_EXIT.usage,
  );
}
