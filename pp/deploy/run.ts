import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { readFile } from 'node:fs/promises';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { stableJson } from '../../shared/stable-json.js';
import type { IntentStore } from '../../shared/store/types.js';
import { signIntent, signRemoval, type SignOptions } from '../../shared/trust/envelope.js';
import { CliError } from '../read-spec.js';
import { refuseUnsigned, signed, signWith } from '../signing.js';
import { refuseSectionsNotUnderstood } from '../understood.js';
import {
  analyze,
  deploySpec,
  flippedIntent,
  intentOf,
  nodesWithApp,
  parseNodes,
  renderPlan,
  signedIntentOrder,
  stagedIntent,
  type DeployPlan,
  type RawIntent,
} from './analyze.js';
import {
  awaitRealityChange,
  flipState,
  readRecords,
  revertState,
  stageState,
  verdictNodes,
  type Expectation,
  type NodePhaseState,
} from './follow.js';
import { DeployLock } from './lock.js';
import { Progress } from './progress.js';
import { newDeploymentId, readDeployments, writeDeployment, type DeploymentRecord } from './record.js';
import { readNodeState, writeNodes, type NodeState } from './write.js';

export interface DeployOptions {
  app: string;
  file?: string;
  nodes?: string;
  all: boolean;
  yes: boolean;
  dryRun: boolean;
  autoRevert: boolean;
  continueOnError: boolean;
  timeout: number;
  json: boolean;
  silentAfter: number;
  lockTtl: number;
  /** --sign-key: every value written is a signed envelope (shared/trust/envelope.ts). */
  signKey?: string;
  /** --force: write sections that agents of a node may not understand (pp/understood.ts). */
  force: boolean;
}

async function readStdinLines(): Promise<string> {
  if (process.stdin.isTTY) throw new CliError('--nodes - reads node names from stdin, one per line: pipe them in', DEPLOY_EXIT.usage);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function targets(store: IntentStore, prefix: string, o: DeployOptions): Promise<string[]> {
  const given = [o.nodes !== undefined, o.all].filter(Boolean).length;
  if (given !== 1)
    throw new CliError('name the target nodes with exactly one of --nodes a,b, --nodes - (stdin) or --all', DEPLOY_EXIT.usage);
  const nodes = o.all
    ? await nodesWithApp(store, prefix, o.app)
    : o.nodes === '-'
      ? parseNodes(await readStdinLines(), /\r?\n/)
      : parseNodes(o.nodes!, /,/);
  if (nodes.length === 0)
    throw new CliError(o.all ? `no node's intent holds ${o.app}: --all found no node` : 'no node given', DEPLOY_EXIT.usage);
  return nodes;
}

/** Asks on the terminal; only called when stdin and stderr are terminals. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

interface Ctx {
  store: IntentStore;
  prefix: string;
  o: DeployOptions;
  /** Absent when only following (pp deploy follow): nothing is written then. */
  lock?: DeployLock;
  plan: DeployPlan;
  /** Absent: what is written is plain JSON. */
  sign?: SignOptions;
  x: Expectation;
  deadline: number;
  progress: Progress;
  record: DeploymentRecord;
  log: (line: string) => void;
}

/**
 * Follows one phase on `nodes` until each is done or failed, the first failure when `stopOnFailure`, or the
 * deadline. Reality is read on each change (a blocking query on the reality tree, at most every 2 s otherwise).
 */
async function followPhase(
  ctx: Ctx,
  phase: string,
  nodes: string[],
  stateOf: (node: string, records: Awaited<ReturnType<typeof readRecords>>, verdicts: Map<string, string>) => NodePhaseState,
  agent: string,
  stopOnFailure: boolean,
): Promise<{ states: NodePhaseState[]; timedOut: boolean }> {
  let index = 0;
  for (;;) {
    const [records, verdicts] = await Promise.all([
      readRecords(ctx.store, ctx.prefix, agent, ctx.o.app),
      verdictNodes(ctx.store, ctx.prefix, ctx.x),
    ]);
    const states = nodes.map((n) => stateOf(n, records, verdicts));
    ctx.progress.show(phase, states);
    const settled = states.every((s) => s.state === 'done' || s.state === 'failed');
    // Strict stops at a failure once no node is mid-way: a node rolling back (whose verdict may be what stopped
    // another node first) or mid-flip is reported as it ends, not as it was.
    const stopped = stopOnFailure && states.some((s) => s.state === 'failed') && !states.some((s) => s.state === 'busy');
    if (settled || stopped) {
      ctx.progress.end();
      return { states, timedOut: false };
    }
    if (Date.now() >= ctx.deadline) {
      ctx.progress.end();
      return { states, timedOut: true };
    }
    ctx.lock?.assertHeld();
    index = await awaitRealityChange(ctx.store, ctx.prefix, index, Math.min(2000, ctx.deadline - Date.now()));
  }
}

/**
 * What a phase writes on a node: `intent`, or no intent (null: the app is removed). Unsigned, `exact` (when given)
 * is written byte for byte instead: a revert puts back the value the plan found.
 */
interface Desired {
  intent: RawIntent | null;
  exact?: string;
}

/** True when `current` (the node's value now) holds `desired` already, in the form this deploy writes. */
function holds(ctx: Ctx, node: string, current: string | undefined, desired: Desired): boolean {
  if (desired.intent === null || current === undefined) return false;
  if (!ctx.sign) return (desired.exact ?? JSON.stringify(desired.intent)) === current;
  const order = signedIntentOrder(current, ctx.prefix, node);
  return order !== undefined && stableJson(order.spec) === stableJson(desired.intent);
}

/**
 * The values to write. Signed, every node given the same intent (or removal) shares one envelope listing them all:
 * one ssh-keygen run (one passphrase or touch) per distinct value, not per node.
 */
async function valuesOf(ctx: Ctx, planned: Array<{ node: string; desired: Desired }>): Promise<Map<string, string | null>> {
  const values = new Map<string, string | null>();
  const { sign } = ctx;
  if (!sign) {
    for (const { node, desired } of planned)
      values.set(node, desired.exact ?? (desired.intent === null ? null : JSON.stringify(desired.intent)));
    return values;
  }
  const groups = new Map<string, { intent: RawIntent | null; nodes: string[] }>();
  for (const { node, desired } of planned) {
    const key = desired.intent === null ? '' : stableJson(desired.intent);
    const group = groups.get(key) ?? { intent: desired.intent, nodes: [] };
    group.nodes.push(node);
    groups.set(key, group);
  }
  const app = ctx.o.app;
  for (const { intent, nodes } of groups.values()) {
    const value = await signed(intent === null ? `the removal of ${app}` : `the intent of ${app}`, () =>
      intent === null ? signRemoval(ctx.prefix, app, nodes, sign) : signIntent(ctx.prefix, app, nodes, JSON.stringify(intent), sign),
    );
    for (const node of nodes) values.set(node, value);
  }
  return values;
}

/**
 * Writes `desired(node, current)` on each node whose app intent is still `expected(node)` (what the plan saw, or
 * what this deploy wrote); a node whose intent changed since is reported, not overwritten. `values` holds what
 * each node not changed since holds or is given now.
 */
async function writePhase(
  ctx: Ctx,
  nodes: string[],
  expected: (node: string) => string | undefined,
  desired: (node: string, current: RawIntent | undefined) => Desired,
): Promise<{ written: string[]; changed: string[]; values: Map<string, string | null> }> {
  const planned: Array<{ node: string; state: NodeState; desired: Desired }> = [];
  const changed: string[] = [];
  // A node that holds the value already (a resumed deploy's staged nodes) is not written again.
  const already = new Map<string, string | null>();
  for (const node of nodes) {
    const state = await readNodeState(ctx.store, ctx.prefix, node, ctx.o.app);
    if (state.value !== expected(node)) {
      changed.push(node);
      continue;
    }
    const wanted = desired(node, intentOf(state.value));
    if (holds(ctx, node, state.value, wanted)) already.set(node, state.value!);
    else planned.push({ node, state, desired: wanted });
  }
  const values = await valuesOf(ctx, planned);
  const writes = planned.map((p) => ({ state: p.state, value: values.get(p.node)! }));
  const result = await writeNodes(ctx.store, ctx.prefix, ctx.o.app, writes, () => ctx.lock?.assertHeld());
  for (const [node, value] of already) values.set(node, value);
  return { written: [...already.keys(), ...result.written], changed: [...changed, ...result.changed], values };
}

async function saveRecord(ctx: Ctx): Promise<void> {
  await writeDeployment(ctx.store, ctx.prefix, ctx.record).catch((err: Error) =>
    ctx.log(`cannot write the deployment record: ${err.message}`),
  );
}

/** A deploy whose spec and nodes come from a record (resume, rollback) rather than the command line. */
export interface GivenDeploy {
  spec: Record<string, unknown>;
  nodes: string[];
  /** Names the spec's origin in errors, e.g. "deployment 20261202T…". */
  where: string;
  /** The interrupted deploy carried on (resume: no confirmation, nodes already written are followed). */
  resume?: DeploymentRecord;
}

/** `pp deploy <app> --file spec.json`: analyse, confirm, lock, stage, flip, follow, record. Resolves to the exit code. */
export async function runDeploy(store: IntentStore, prefix: string, o: DeployOptions, given?: GivenDeploy): Promise<number> {
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const resume = given?.resume;
  let spec: ReturnType<typeof deploySpec>;
  if (given) spec = deploySpec(o.app, given.where, JSON.stringify(given.spec));
  else {
    if (!o.file || (o.file === '-' && o.nodes === '-'))
      throw new CliError('pp deploy needs the spec in a file: --file spec.json', DEPLOY_EXIT.usage);
    const specText = await readFile(o.file, 'utf8').catch((err: Error) => {
      throw new CliError(`cannot read ${o.file}: ${err.message}`, DEPLOY_EXIT.usage);
    });
    spec = deploySpec(o.app, o.file, specText);
  }
  if (!(o.lockTtl >= 10 && o.lockTtl <= 86400))
    throw new CliError(`--lock-ttl: expected 10..86400 seconds, got ${o.lockTtl}`, DEPLOY_EXIT.usage);
  if (!(o.timeout > 0)) throw new CliError(`--timeout: expected a positive number of seconds, got ${o.timeout}`, DEPLOY_EXIT.usage);
  if (o.autoRevert && o.continueOnError) throw new CliError('--auto-revert and --continue-on-error exclude each other', DEPLOY_EXIT.usage);
  const nodes = given ? given.nodes : await targets(store, prefix, o);
  const sign = signWith(o.signKey);
  const plan = await analyze(store, prefix, o.app, nodes, spec, { silentAfterSeconds: o.silentAfter, signing: sign !== undefined });
  // With --json stdout carries the final report alone, so the plan goes to stderr.
  (o.json ? process.stderr : process.stdout).write(renderPlan(plan));
  const todo = plan.nodes.filter((n) => n.action === 'flip' || n.action === 'first-install');
  // Before the lock and the record: a deploy its agents would refuse writes nothing (a dry run says so too).
  if (!sign) refuseUnsigned(new Map(todo.filter((n) => n.signedOnly.length > 0).map((n) => [n.node, n.signedOnly])));
  refuseSectionsNotUnderstood(plan.spec, new Map(todo.map((n) => [n.node, n.heartbeats])), o.force);
  if (o.dryRun) return DEPLOY_EXIT.ok;
  // A resumed deploy follows its nodes even when every intent is written already (it was killed while following).
  if (todo.length === 0 && !resume) {
    process.stdout.write('nothing to deploy\n');
    return plan.nodes.some((n) => n.action === 'skip') ? DEPLOY_EXIT.changed : DEPLOY_EXIT.ok;
  }
  if (!o.yes && !resume) {
    if (!process.stdin.isTTY || !process.stderr.isTTY)
      throw new CliError(
        'no terminal to confirm on: pass --yes to deploy without confirmation (or --dry-run to only see the plan)',
        DEPLOY_EXIT.usage,
      );
    if (!(await confirm(`Deploy ${o.app} ${plan.version} to ${todo.length} node(s)? [y/N] `))) {
      log('not confirmed: nothing written');
      return DEPLOY_EXIT.declined;
    }
  }
  const lock = await DeployLock.take(store, prefix, o.app, o.lockTtl * 1000);
  const record: DeploymentRecord = {
    id: newDeploymentId(),
    app: o.app,
    user: JSON.parse((await store.get(lock.key)) ?? '{}').user ?? '?',
    host: hostname(),
    pid: process.pid,
    startedAt: new Date(started).toISOString(),
    version: plan.version,
    sha256: plan.sha256,
    from: Object.fromEntries(plan.nodes.map((n) => [n.node, n.from ?? null])),
    nodes,
    spec: plan.spec,
    ...(resume ? { resumes: resume.id } : {}),
    policy: { mode: o.autoRevert ? 'auto-revert' : o.continueOnError ? 'continue-on-error' : 'strict', timeoutSeconds: o.timeout },
    phase: 'staging',
    outcome: 'running',
    result: Object.fromEntries(
      plan.nodes
        .filter((n) => n.action !== 'flip' && n.action !== 'first-install')
        .map((n) => [n.node, n.action === 'skip' ? `skipped: ${n.skip}` : 'live (unchanged)']),
    ),
  };
  const ctx: Ctx = {
    store,
    prefix,
    o,
    lock,
    plan,
    sign,
    x: { app: o.app, version: plan.version, sha256: plan.sha256 },
    deadline: started + o.timeout * 1000,
    progress: new Progress(process.stderr, started, process.stderr.isTTY === true),
    record,
    log,
  };
  const onSignal = () => {
    record.outcome = 'interrupted';
    record.endedAt = new Date().toISOString();
    void saveRecord(ctx).finally(() => lock.release().finally(() => process.exit(DEPLOY_EXIT.interrupted)));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    lock.assertHeld();
    await saveRecord(ctx);
    if (resume) log(`resuming deploy ${resume.id} (${resume.outcome} in its ${resume.phase} phase) as ${record.id}`);
    return await deploy(
      ctx,
      todo.map((n) => n.node),
      plan.nodes.filter((n) => n.action === 'unchanged').map((n) => n.node),
    );
  } catch (err) {
    record.outcome = err instanceof CliError && err.exitCode === DEPLOY_EXIT.lockLost ? 'lock-lost' : 'failed';
    record.result.error = (err as Error).message;
    throw err;
  } finally {
    record.endedAt = new Date().toISOString();
    await saveRecord(ctx);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await lock.release();
  }
}

async function deploy(ctx: Ctx, todo: string[], unchanged: string[]): Promise<number> {
  const { plan, o, record } = ctx;
  const original = new Map(plan.nodes.map((n) => [n.node, n.value]));
  const staged = new Map<string, string>();
  const flipped = new Map<string, string>();
  const strict = !o.continueOnError;

  // 1. Stage: only the new version's entry, prepared, checked against the intent the plan showed.
  const stageWrite = await writePhase(
    ctx,
    todo,
    (n) => original.get(n),
    (_n, current) => ({ intent: stagedIntent(plan.spec, current, plan.version) }),
  );
  for (const [n, value] of stageWrite.values) staged.set(n, value!);
  for (const n of stageWrite.changed) record.result[n] = 'changed: its intent changed since the plan; not overwritten';
  ctx.log(
    `staged ${plan.version} on ${stageWrite.written.length} node(s)${stageWrite.changed.length ? `; intent changed since the plan on ${stageWrite.changed.join(', ')}: not overwritten` : ''}`,
  );
  await saveRecord(ctx);
  const stage = await followPhase(ctx, 'stage', stageWrite.written, (n, recs) => stageState(n, recs.get(n), ctx.x), 'preparer', strict);
  const stageFailed = stage.states.filter((s) => s.state === 'failed');
  for (const s of stageFailed) record.result[s.node] = `failed staging: ${s.note}`;
  if (stage.timedOut)
    return finish(
      ctx,
      'timed-out',
      stage.states.filter((s) => s.state !== 'done'),
      'stage',
      staged,
      flipped,
    );
  if (stageFailed.length && strict) return failAndMaybeRevert(ctx, staged, flipped, stageFailed);
  const ready = stage.states.filter((s) => s.state === 'done').map((s) => s.node);

  // 2. Flip: the spec, its version live, written everywhere at once; the agents' rollout slots pace the flips.
  record.phase = 'flipping';
  await saveRecord(ctx);
  const flipWrite = await writePhase(
    ctx,
    ready,
    (n) => staged.get(n),
    (n, current) => {
      const before = original.get(n);
      return { intent: flippedIntent(plan.spec, before === undefined ? current : intentOf(before)) };
    },
  );
  for (const [n, value] of flipWrite.values) flipped.set(n, value!);
  for (const n of flipWrite.changed) record.result[n] = 'changed: its intent changed after staging; not overwritten';
  ctx.log(`flipping ${plan.version} live on ${flipWrite.written.length} node(s)`);
  // Nodes whose intent holds the spec already are followed too: holding it is not running it.
  const flip = await followPhase(
    ctx,
    'flip',
    [...unchanged, ...flipWrite.written],
    (n, recs, verdicts) => flipState(n, recs.get(n), verdicts.get(n), ctx.x),
    'setlive',
    strict,
  );
  for (const s of flip.states)
    record.result[s.node] = s.state === 'done' ? 'live' : s.state === 'failed' ? `failed: ${s.note}` : `not live: ${s.note ?? s.state}`;
  if (flip.timedOut)
    return finish(
      ctx,
      'timed-out',
      flip.states.filter((s) => s.state !== 'done'),
      'flip',
      staged,
      flipped,
    );
  const failed = [...stageFailed, ...flip.states.filter((s) => s.state === 'failed')];
  if (failed.length) return failAndMaybeRevert(ctx, staged, flipped, failed);
  const changed = [...stageWrite.changed, ...flipWrite.changed];
  return finish(ctx, 'succeeded', [], 'flip', staged, flipped, changed.length ? DEPLOY_EXIT.changed : DEPLOY_EXIT.ok);
}

/** A version failed: strict and loose stop here (the agents' verdicts stop the other nodes); --auto-revert writes each node's intent back as the plan found it. */
async function failAndMaybeRevert(
  ctx: Ctx,
  staged: Map<string, string>,
  flipped: Map<string, string>,
  failed: NodePhaseState[],
): Promise<number> {
  ctx.log(`${ctx.plan.version} failed on ${failed.map((s) => `${s.node} (${s.note})`).join('; ')}`);
  if (!ctx.o.autoRevert) return finish(ctx, 'failed', failed, 'flip', staged, flipped, DEPLOY_EXIT.versionFailed);
  ctx.record.phase = 'reverting';
  await saveRecord(ctx);
  const ours = new Map([...staged, ...flipped]);
  const original = new Map(ctx.plan.nodes.map((n) => [n.node, n.value]));
  const fromOf = new Map(ctx.plan.nodes.map((n) => [n.node, n.from]));
  // Signed, the intent the plan found is signed again, now: the agents accepted this deploy's newer orders and
  // refuse an older one as a rollback. A node that had no intent of the app gets a signed removal.
  const back = await writePhase(
    ctx,
    [...ours.keys()],
    (n) => ours.get(n),
    (n) => ({ intent: intentOf(original.get(n)) ?? null, exact: original.get(n) }),
  );
  ctx.log(
    `reverted the intent of ${back.written.length} node(s) to what the plan found${back.changed.length ? `; changed since on ${back.changed.join(', ')}: not overwritten` : ''}`,
  );
  const revert = await followPhase(
    ctx,
    'revert',
    back.written.filter((n) => flipped.has(n)),
    (n, recs) => revertState(n, recs.get(n), fromOf.get(n), ctx.x),
    'setlive',
    false,
  );
  for (const s of revert.states)
    if (s.state === 'done' && !ctx.record.result[s.node]?.startsWith('failed'))
      ctx.record.result[s.node] = `reverted to ${fromOf.get(s.node) ?? 'nothing live'}`;
  if (revert.timedOut)
    ctx.log(
      `not back yet: ${revert.states
        .filter((s) => s.state !== 'done')
        .map((s) => s.node)
        .join(', ')}`,
    );
  return finish(ctx, 'reverted', failed, 'revert', staged, flipped, DEPLOY_EXIT.versionFailed);
}

function finish(
  ctx: Ctx,
  outcome: DeploymentRecord['outcome'],
  open: NodePhaseState[],
  phase: string,
  staged: Map<string, string>,
  flipped: Map<string, string>,
  code: number = DEPLOY_EXIT.timeout,
): number {
  ctx.record.outcome = outcome;
  ctx.record.phase = 'done';
  const took = ((Date.now() - Date.parse(ctx.record.startedAt)) / 1000).toFixed(1);
  if (ctx.o.json) {
    process.stdout.write(
      `${JSON.stringify({ ...ctx.record, tookSeconds: Number(took), exitCode: code, staged: [...staged.keys()], flipped: [...flipped.keys()] }, null, 2)}\n`,
    );
    return code;
  }
  const live = Object.values(ctx.record.result).filter((r) => r.startsWith('live')).length;
  const lines = [`deploy ${ctx.record.id}: ${outcome} after ${took} s: ${live}/${ctx.record.nodes.length} live on ${ctx.plan.version}`];
  if (outcome === 'timed-out')
    lines.push(
      `  --timeout ${ctx.o.timeout} s reached during ${phase}; still open: ${open.map((s) => `${s.node} (${s.note ?? s.state})`).join(', ')}`,
    );
  for (const [node, result] of Object.entries(ctx.record.result)) if (!result.startsWith('live')) lines.push(`  ${node}: ${result}`);
  if (outcome === 'failed')
    lines.push(
      `  the intent stays as written and the nodes refuse ${ctx.plan.version} by its verdicts; deploy the previous version (or use --auto-revert) to put it back everywhere`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
  return code;
}

/** The app's latest deployment record; CliError 4 when there is none. */
async function latestDeployment(store: IntentStore, prefix: string, app: string): Promise<DeploymentRecord> {
  const last = (await readDeployments(store, prefix, app)).at(-1);
  if (!last) throw new CliError(`no deploy of ${app} is recorded under ${prefix}/deployments/${app}/`, DEPLOY_EXIT.notFound);
  return last;
}

/**
 * `pp deploy resume <app>`: takes the lock again and carries the latest deploy on from its record (its spec and nodes):
 * nodes not staged yet are staged, staged ones flipped, and every node followed. Exit 4 when it ended already.
 */
export async function resumeDeploy(store: IntentStore, prefix: string, o: DeployOptions): Promise<number> {
  const last = await latestDeployment(store, prefix, o.app);
  if (!['running', 'interrupted', 'lock-lost', 'timed-out'].includes(last.outcome))
    throw new CliError(`the latest deploy of ${o.app} (${last.id}) ended: ${last.outcome}; nothing to resume`, DEPLOY_EXIT.notFound);
  if (!last.spec) throw new CliError(`deployment ${last.id} has no spec recorded; deploy again with --file`, DEPLOY_EXIT.notFound);
  const mode = last.policy.mode;
  const policy = {
    yes: true,
    autoRevert: o.autoRevert || mode === 'auto-revert',
    continueOnError: o.continueOnError || mode === 'continue-on-error',
  };
  return runDeploy(
    store,
    prefix,
    { ...o, ...policy },
    { spec: last.spec, nodes: last.nodes, where: `deployment ${last.id}`, resume: last },
  );
}

/**
 * `pp rollback <app>`: deploys, through the same path (plan, confirmation, stage, flip, follow), the version live
 * before the latest deploy on its nodes, with the spec it was deployed with (the latest record deploying it).
 */
export async function rollbackDeploy(store: IntentStore, prefix: string, o: DeployOptions): Promise<number> {
  const records = await readDeployments(store, prefix, o.app);
  const last = records.at(-1);
  if (!last)
    throw new CliError(
      `no deploy of ${o.app} is recorded under ${prefix}/deployments/${o.app}/: nothing to roll back`,
      DEPLOY_EXIT.notFound,
    );
  const before = [...new Set(Object.values(last.from).filter((v): v is string => v !== null))];
  if (before.length !== 1)
    throw new CliError(
      `the latest deploy of ${o.app} (${last.id}) started from ${before.length ? `several versions (${before.join(', ')})` : 'no live version'}: deploy the version you want with --file`,
      DEPLOY_EXIT.notFound,
    );
  const earlier = records.filter((r) => r.version === before[0] && r.spec && r.id < last.id).at(-1);
  if (!earlier?.spec)
    throw new CliError(`no recorded deploy of ${o.app} ${before[0]} holds its spec: deploy it with --file`, DEPLOY_EXIT.notFound);
  process.stderr.write(`rolling ${o.app} back to ${before[0]} on ${last.nodes.length} node(s), with the spec of deploy ${earlier.id}\n`);
  return runDeploy(store, prefix, o, { spec: earlier.spec, nodes: last.nodes, where: `deployment ${earlier.id}` });
}

/** `pp deploy follow <app>`: watches the latest deploy's nodes until the version is live on all, fails, or --timeout; writes nothing. */
export async function followDeploy(store: IntentStore, prefix: string, o: DeployOptions): Promise<number> {
  const started = Date.now();
  const last = await latestDeployment(store, prefix, o.app);
  const x = { app: o.app, version: last.version, sha256: last.sha256 };
  const progress = new Progress(process.stderr, started, process.stderr.isTTY === true);
  const ctx = { store, prefix, o, x, deadline: started + o.timeout * 1000, progress } as unknown as Ctx;
  process.stderr.write(`following deploy ${last.id} of ${o.app} ${last.version} (${last.outcome}, ${last.nodes.length} nodes)\n`);
  const flip = await followPhase(
    ctx,
    'flip',
    last.nodes,
    (n, recs, verdicts) => flipState(n, recs.get(n), verdicts.get(n), x),
    'setlive',
    !o.continueOnError,
  );
  const live = flip.states.filter((s) => s.state === 'done').length;
  const lines = [
    `${o.app} ${last.version}: ${live}/${last.nodes.length} live`,
    ...flip.states.filter((s) => s.state !== 'done').map((s) => `  ${s.node}: ${s.state} ${s.note ?? ''}`.trimEnd()),
  ];
  if (o.json)
    process.stdout.write(
      `${JSON.stringify({ id: last.id, version: last.version, nodes: flip.states, timedOut: flip.timedOut }, null, 2)}\n`,
    );
  else process.stdout.write(`${lines.join('\n')}\n`);
  if (flip.timedOut) return DEPLOY_EXIT.timeout;
  return flip.states.some((s) => s.state === 'failed') ? DEPLOY_EXIT.versionFailed : DEPLOY_EXIT.ok;
}
