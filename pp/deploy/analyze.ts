import { appIntentKey, DRAINED_MARKER, intentPrefix, intentSerialKey, nodeIntentPrefix, realityPrefix } from '../../shared/keys.js';
import type { AppIntent } from '../../shared/intent/schema.js';
import { validateAppIntent } from '../../shared/intent/validate.js';
import { realityEntries } from '../../shared/reality/record.js';
import { stableJson } from '../../shared/stable-json.js';
import { readVerdicts } from '../../shared/rollout/verdicts.js';
import type { IntentStore, KvEntry } from '../../shared/store/types.js';
import { readStoredValue, type SignedOrder, specJsonOf } from '../../shared/trust/envelope.js';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { CliError } from '../read-spec.js';
import { type NodeBeats, nodeHeartbeats } from '../heartbeats.js';
import { signedOnlyOf } from '../signing.js';

/** Raw intent JSON as the operator wrote it (written back as such: defaults are not spelled out). */
export type RawIntent = Record<string, unknown> & { versions: Array<Record<string, unknown> & { version: string; state: string }> };

/** What a deploy does on one node, decided from its intent now. */
export type NodeAction = 'flip' | 'first-install' | 'unchanged' | 'skip';

/** One target node as analysed: its intent now (with the index every write is checked against), reality, warnings. */
export interface NodePlan {
  node: string;
  action: NodeAction;
  /** The live version now (undefined: none). */
  from?: string;
  /** Why the node is skipped (action skip). */
  skip?: string;
  /** The app's intent value now and its modifyIndex (0: absent). */
  value?: string;
  index: number;
  /** The node's intent-serial key now (value and index), moved by every write. */
  serial: { value: number; index: number };
  drained: boolean;
  /** Other app keys on the node (to know whether removing this one empties it). */
  otherApps: number;
  /** Each agent's record for the app: status, version, age. */
  reality: Record<string, { status: string; version?: string; ageSeconds: number; detail?: string }>;
  /** The node's agents that act only on signed intent (their heartbeats say they run with --trusted-signers). */
  signedOnly: string[];
  /** The node's agents' heartbeats, by agent. */
  heartbeats: NodeBeats;
  warnings: string[];
}

export interface DeployPlan {
  app: string;
  version: string;
  sha256: string;
  /** The spec as given (raw JSON), with its one live version. */
  spec: RawIntent;
  nodes: NodePlan[];
  warnings: string[];
}

export interface AnalyzeOptions {
  /** An agent whose last report for the app is older than this is warned about (silent agent). */
  silentAfterSeconds: number;
  /** The deploy signs what it writes (--sign-key): an unsigned intent of the same spec is not left unchanged. */
  signing?: boolean;
  now?: number;
}

/** A signed removal (tombstone) at an app key: the app is not on the node. */
export function isRemoval(value: string): boolean {
  const stored = readStoredValue(value);
  return stored.form === 'signed' && stored.order.kind === 'remove';
}

/**
 * The intent a stored value holds, plain or inside a signed envelope; undefined when there is none (no key, or a
 * signed removal). A broken envelope or a value that is not JSON throws.
 */
export function intentOf(value: string | undefined): RawIntent | undefined {
  if (value === undefined) return undefined;
  const stored = readStoredValue(value);
  if (stored.form === 'broken') throw new Error(stored.error);
  const json = specJsonOf(stored);
  return json === undefined ? undefined : (JSON.parse(json) as RawIntent);
}

/** The signed intent order at a node's app key, when it is one signed for this prefix and node (agents may accept it). */
export function signedIntentOrder(value: string | undefined, prefix: string, node: string): SignedOrder | undefined {
  if (value === undefined) return undefined;
  const stored = readStoredValue(value);
  if (stored.form !== 'signed' || stored.order.kind !== 'intent') return undefined;
  return stored.order.prefix === prefix && stored.order.nodes.includes(node) ? stored.order : undefined;
}

/** Node names from `--nodes a,b` (or lines already read from stdin): trimmed, deduplicated, checked. */
export function parseNodes(text: string, separator: RegExp): string[] {
  const nodes = [
    ...new Set(
      text
        .split(separator)
        .map((n) => n.trim())
        .filter((n) => n && !n.startsWith('#')),
    ),
  ];
  for (const n of nodes) {
    try {
      nodeIntentPrefix('p', n);
    } catch (err) {
      throw new CliError((err as Error).message, DEPLOY_EXIT.usage);
    }
  }
  return nodes;
}

/** Every node whose intent holds the app now (`--all`). */
export async function nodesWithApp(store: IntentStore, prefix: string, app: string): Promise<string[]> {
  const base = intentPrefix(prefix);
  const { entries } = await store.read(base);
  return entries
    .map((e) => ({ parts: e.key.slice(base.length).split('/'), value: e.value }))
    .filter(({ parts, value }) => parts.length === 2 && parts[1] === app && !isRemoval(value))
    .map(({ parts }) => parts[0]!)
    .sort();
}

/**
 * The spec's checked intent and its raw JSON; it must name exactly one live version (the one deployed). `where` names
 * its origin in errors: `file spec.json`, `stdin`, `deployment <id>`.
 */
export function deploySpec(
  app: string,
  where: string,
  text: string,
): { intent: AppIntent; raw: RawIntent; version: string; sha256: string } {
  const result = validateAppIntent(where, app, text);
  if (!result.ok) throw new CliError(result.error, DEPLOY_EXIT.usage);
  const live = result.intent.versions.find((v) => v.state === 'live');
  if (!live)
    throw new CliError(
      `${where}: field versions: pp deploy needs one version with state "live" (the version to deploy)`,
      DEPLOY_EXIT.usage,
    );
  return { intent: result.intent, raw: JSON.parse(text) as RawIntent, version: live.version, sha256: live.sha256 };
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/**
 * Reads, and changes nothing: each target node's intent of the app beside the spec, every agent's reality for it,
 * the node's drained marker and intent serial; the verdicts already on the version. Pure apart from the reads.
 */
export async function analyze(
  store: IntentStore,
  prefix: string,
  app: string,
  nodes: string[],
  spec: { raw: RawIntent; intent: AppIntent; version: string; sha256: string },
  options: AnalyzeOptions,
): Promise<DeployPlan> {
  const now = options.now ?? Date.now();
  const plans = await Promise.all(
    nodes.map(async (node): Promise<NodePlan> => {
      const serialKey = intentSerialKey(prefix, node);
      const [intent, reality, serial] = await Promise.all([
        store.read(nodeIntentPrefix(prefix, node)),
        store.read(realityPrefix(prefix, node)),
        store.read(serialKey),
      ]);
      const key = appIntentKey(prefix, node, app);
      // An agent refreshes its heartbeat even when nothing changes: that, not its last record, tells a silent agent.
      const beats = nodeHeartbeats(prefix, node, reality.entries);
      const entry: KvEntry | undefined = intent.entries.find((e) => e.key === key);
      const drained = intent.entries.some((e) => e.key.endsWith(`/${DRAINED_MARKER}`));
      const otherApps = intent.entries.filter((e) => e.key !== key && !e.key.endsWith(`/${DRAINED_MARKER}`) && !isRemoval(e.value)).length;
      const serialEntry = serial.entries.find((e) => e.key === serialKey);
      const plan: NodePlan = {
        node,
        action: 'first-install',
        index: entry?.modifyIndex ?? 0,
        value: entry?.value,
        serial: { value: Number(serialEntry?.value) || 0, index: serialEntry?.modifyIndex ?? 0 },
        drained,
        otherApps,
        reality: Object.create(null) as NodePlan['reality'],
        signedOnly: signedOnlyOf(beats, now),
        heartbeats: beats,
        warnings: [],
      };
      const ageOf = (at: string) => Math.max(0, Math.round((now - Date.parse(at)) / 1000));
      for (const { agent, app: recApp, record: rec, error } of realityEntries(prefix, reality.entries)) {
        if (recApp !== app) continue;
        if (error !== undefined) plan.warnings.push(`${node}'s ${agent}: ${error}`);
        if (!rec) continue;
        const ageSeconds = ageOf(rec.at);
        plan.reality[agent] = { status: rec.status, version: rec.version, ageSeconds, detail: rec.error ?? rec.reason };
        if (rec.status === 'failed') plan.warnings.push(`${node}'s ${agent} reports ${app} failed: ${rec.error ?? '?'}`);
        const beat = beats.get(agent);
        if (beat?.stopped) plan.warnings.push(`${node}'s ${agent} stopped at ${beat.at}`);
        else if (beat ? ageOf(beat.at) > options.silentAfterSeconds : ageSeconds > options.silentAfterSeconds)
          plan.warnings.push(`${node}'s ${agent} last reported ${age(beat ? ageOf(beat.at) : ageSeconds)} ago`);
      }
      if (drained) plan.warnings.push(`${node} is drained: deploying lifts its drained marker`);
      const stored = entry && readStoredValue(entry.value);
      if (stored?.form === 'broken') {
        plan.action = 'skip';
        plan.skip = `its intent is invalid (${stored.error}); fix it with pp intent put first`;
        return plan;
      }
      // The spec inside a signed envelope is the node's intent; a signed removal leaves none.
      const json = stored && specJsonOf(stored);
      if (json !== undefined) {
        const current = validateAppIntent(`key ${key}`, app, json);
        if (!current.ok) {
          plan.action = 'skip';
          plan.skip = `its intent is invalid (${current.error}); fix it with pp intent put first`;
          return plan;
        }
        const live = current.intent.versions.find((v) => v.state === 'live');
        plan.from = live?.version;
        const same = current.intent.versions.find((v) => v.version === spec.version);
        const held = JSON.parse(json) as RawIntent;
        // Signing, a spec held unsigned (or signed for another prefix or node) is written again, signed: agents run
        // with --trusted-signers refuse it as it is.
        const signedHere = !options.signing || signedIntentOrder(entry!.value, prefix, node) !== undefined;
        if (same && same.sha256 !== spec.sha256) {
          plan.action = 'skip';
          plan.skip = `its intent names version ${spec.version} with another sha256 (${same.sha256.slice(0, 12)}…)`;
        } else if (stableJson(held) === stableJson(flippedIntent(spec.raw, held))) {
          plan.action = signedHere ? 'unchanged' : live ? 'flip' : 'first-install';
          if (!signedHere)
            plan.warnings.push(`${node} holds this spec unsigned (or signed for another prefix or node): it is written again, signed`);
        } else plan.action = live ? 'flip' : 'first-install';
        if (current.intent.basedir !== spec.intent.basedir)
          plan.warnings.push(`${node}: the spec moves ${app} from ${current.intent.basedir} to ${spec.intent.basedir}`);
      } else if (Object.keys(plan.reality).length === 0 && otherApps === 0) {
        plan.warnings.push(`${node} has no intent and no reality at all: is the name right?`);
      }
      return plan;
    }),
  );
  const warnings: string[] = [];
  if (!spec.intent.rollout)
    warnings.push('the spec has no rollout section: every node flips as soon as its agent sees the new intent, all at once');
  const verdicts = (await readVerdicts(store, prefix, app)).filter((v) => v.version === spec.version && v.sha256 === spec.sha256);
  if (verdicts.length > 0)
    warnings.push(
      `version ${spec.version} already failed its health check on ${[...new Set(verdicts.map((v) => v.node))].join(', ')}: nodes refuse it until pp verdict clear ${app} ${spec.version}`,
    );
  return { app, version: spec.version, sha256: spec.sha256, spec: spec.raw, nodes: plans, warnings };
}

/**
 * The intent written in the stage phase: the node's intent as it is with only the new version's entry added as
 * prepared, so nothing running restarts; a node without intent gets the spec with no version live.
 */
export function stagedIntent(spec: RawIntent, current: RawIntent | undefined, version: string): RawIntent {
  const entry = { ...spec.versions.find((v) => v.version === version)!, state: 'prepared' };
  if (!current) return { ...spec, versions: spec.versions.map((v) => ({ ...v, state: 'prepared' })) };
  if (current.versions.some((v) => v.version === version)) return current;
  return { ...current, versions: [...current.versions, entry] };
}

/**
 * The intent written in the flip phase: the spec (service, health, ports, rollout as given), its version live, and
 * the version live before kept as prepared, so a revert needs no download.
 */
export function flippedIntent(spec: RawIntent, current: RawIntent | undefined): RawIntent {
  const versions = spec.versions.map((v) => ({ ...v }));
  const live = versions.find((v) => v.state === 'live')!;
  const before = current?.versions.find((v) => v.state === 'live');
  if (before && !versions.some((v) => v.version === before.version)) versions.push({ ...before, state: 'prepared' });
  return { ...spec, versions: [live, ...versions.filter((v) => v !== live)] };
}

/** `12 nodes: 10 flip hello 1.4.0 → 1.5.0, 1 first install, 1 unchanged; warnings: …`. */
export function summaryLine(plan: DeployPlan): string {
  const flips = new Map<string, number>();
  let first = 0;
  let unchanged = 0;
  let skipped = 0;
  for (const n of plan.nodes) {
    if (n.action === 'flip') flips.set(n.from!, (flips.get(n.from!) ?? 0) + 1);
    else if (n.action === 'first-install') first++;
    else if (n.action === 'unchanged') unchanged++;
    else skipped++;
  }
  const parts = [...flips].map(([from, count]) => `${count} flip ${plan.app} ${from} → ${plan.version}`);
  if (first) parts.push(`${first} first install`);
  if (unchanged) parts.push(`${unchanged} unchanged`);
  if (skipped) parts.push(`${skipped} skipped`);
  const warnings = allWarnings(plan);
  const count = `${plan.nodes.length} node${plan.nodes.length === 1 ? '' : 's'}`;
  return `${count}: ${parts.join(', ') || 'nothing'}${warnings.length ? `; warnings: ${warnings.length}` : ''}`;
}

export const allWarnings = (plan: DeployPlan): string[] => [...plan.warnings, ...plan.nodes.flatMap((n) => n.warnings)];

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The plan as printed before confirmation: summary, per-node table, warnings, skipped nodes. */
export function renderPlan(plan: DeployPlan): string {
  const agents = [...new Set(plan.nodes.flatMap((n) => Object.keys(n.reality)))].sort();
  const rows = [['NODE', 'NOW LIVE', 'ACTION', ...agents.map((a) => a.toUpperCase())]];
  for (const n of plan.nodes) {
    const action =
      n.action === 'flip'
        ? `flip → ${plan.version}`
        : n.action === 'first-install'
          ? `install ${plan.version}`
          : n.action === 'skip'
            ? 'SKIP'
            : 'unchanged';
    rows.push([
      n.node,
      n.from ?? '-',
      action,
      ...agents.map((a) => {
        const r = n.reality[a];
        return r ? `${r.status}${r.version ? ` ${r.version}` : ''} (${age(r.ageSeconds)} ago)` : '-';
      }),
    ]);
  }
  const lines = [`deploy ${plan.app} ${plan.version} (sha256 ${plan.sha256.slice(0, 12)}…): ${summaryLine(plan)}`, '', table(rows)];
  const warnings = allWarnings(plan);
  if (warnings.length) lines.push('', 'warnings:', ...warnings.map((w) => `  ${w}`));
  const skipped = plan.nodes.filter((n) => n.action === 'skip');
  if (skipped.length) lines.push('', 'skipped:', ...skipped.map((n) => `  ${n.node}: ${n.skip}`));
  return `${lines.join('\n')}\n`;
}
