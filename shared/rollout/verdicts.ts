import { verdictKey, verdictPrefix } from '../keys.js';
import type { IntentStore } from '../store/types.js';

/**
 * A version that failed its health check on one node and was rolled back, stored at
 * `<prefix>/verdicts/<app>/<fingerprint>/<node>`. The fingerprint names the attempt (the version's digest, the
 * service and the health check), so fixing a wrong health URL is a new attempt that no verdict holds back.
 */
export interface Verdict {
  node: string;
  version: string;
  sha256: string;
  at: string;
  output: string;
}

const OUTPUT_CHARS = 300;

export async function recordVerdict(store: IntentStore, prefix: string, app: string, fingerprint: string, verdict: Verdict): Promise<void> {
  const output = verdict.output.length > OUTPUT_CHARS ? `${verdict.output.slice(0, OUTPUT_CHARS)}…` : verdict.output;
  await store.put(verdictKey(prefix, app, fingerprint, verdict.node), JSON.stringify({ ...verdict, output }));
}

function parseVerdict(value: string): Verdict | undefined {
  try {
    const v = JSON.parse(value) as Partial<Verdict>;
    const ok = [v.node, v.version, v.sha256, v.at, v.output].every((f) => typeof f === 'string');
    return ok ? (v as Verdict) : undefined;
  } catch {
    return undefined;
  }
}

/** Every verdict on one attempt (`fingerprint`), or on every attempt of the app; unreadable records are skipped. */
export async function readVerdicts(
  store: IntentStore,
  prefix: string,
  app: string,
  fingerprint?: string,
): Promise<Array<Verdict & { key: string; fingerprint: string }>> {
  const base = verdictPrefix(prefix, app);
  const { entries } = await store.read(verdictPrefix(prefix, app, fingerprint));
  const out: Array<Verdict & { key: string; fingerprint: string }> = [];
  for (const e of entries) {
    const v = parseVerdict(e.value);
    if (v) out.push({ ...v, key: e.key, fingerprint: e.key.slice(base.length).split('/')[0]! });
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/**
 * `version 2.0.0 (sha256 ab12cd34…) failed its health check on 1 node (web3: HTTP 503 …); not tried here`, or
 * undefined while fewer than `maxFailures` nodes failed it.
 */
export function verdictBlock(verdicts: Verdict[], maxFailures: number): string | undefined {
  const nodes = [...new Map(verdicts.map((v) => [v.node, v])).values()];
  if (nodes.length < maxFailures || nodes.length === 0) return undefined;
  const first = nodes[0]!;
  const shown = nodes
    .slice(0, 3)
    .map((v) => `${v.node}: ${v.output}`)
    .join('; ');
  const more = nodes.length > 3 ? `; and ${nodes.length - 3} more` : '';
  const count = `${nodes.length} node${nodes.length === 1 ? '' : 's'}`;
  return `version ${first.version} (sha256 ${first.sha256.slice(0, 12)}…) failed its health check on ${count} (${shown}${more}); not tried here`;
}
