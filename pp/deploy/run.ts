import { hostname } from 'node:os';
import { agentFor } from '../../shared/agent-names.js';
import { DEPLOY_EXIT } from '../../shared/exit-codes.js';
import { intentPrefix } from '../../shared/keys.js';
import type { IntentStore } from '../../shared/store/types.js';
import { CliError } from '../read-spec.js';
import { signWith } from '../signing.js';
import { type DeployPlan, deploySpec } from './analyze.js';
import { confirmDeploy } from './confirm.js';
import { flipState } from './follow.js';
import { digestOfValue, followPhase } from './follow-phase.js';
import { checkOptions, type DeployOptions, readDeploySpec, targetNodes } from './inputs.js';
import { Interrupted, throwIfInterrupted, untilInterrupted } from './interrupt.js';
import { DeployLock } from './lock.js';
import { type DeployEnd, deployExitCode } from './outcome.js';
import { planDeploy } from './plan-phase.js';
import { Progress } from './progress.js';
import { type DeploymentRecord, newDeploymentId, readDeployments, writeDeployment } from './record.js';
import { renderReport } from './report.js';
import { rollOut } from './roll-out.js';

export type { DeployOptions } from './inputs.js';

/**
 * The deploy commands' orchestration: plan (inputs.ts, plan-phase.ts), confirm (confirm.ts), lock (lock.ts) and
 * record (record.ts), then the roll-out (roll-out.ts: stage, flip, follow, revert) and the report (report.ts). Each
 * resolves to how it ended (outcome.ts); the command layer (commands.ts) owns the signals that abort `signal` and
 * the exit code.
 */

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** A deploy whose spec and nodes come from a record (resume, rollback) rather than the command line. */
export interface GivenDeploy {
  spec: Record<string, unknown>;
  nodes: string[];
  /** Names the spec's origin in errors, e.g. "deployment 20261202T…". */
  where: string;
  /** The interrupted deploy carried on (resume: no confirmation, nodes already written are followed). */
  resume?: DeploymentRecord;
}

/** The record a deploy starts with: who, where, from → to, nodes, spec, policy; running, in its staging phase. */
function startRecord(
  plan: DeployPlan,
  o: DeployOptions,
  lock: DeployLock,
  nodes: string[],
  started: number,
  todo: string[],
  resumes?: string,
) {
  const record: DeploymentRecord = {
    id: newDeploymentId(),
    app: o.app,
    user: lock.holder.user,
    host: hostname(),
    pid: process.pid,
    startedAt: new Date(started).toISOString(),
    version: plan.version,
    sha256: plan.sha256,
    from: Object.fromEntries(plan.nodes.map((n) => [n.node, n.from ?? null])),
    nodes,
    spec: plan.spec,
    ...(resumes ? { resumes } : {}),
    policy: { mode: o.autoRevert ? 'auto-revert' : o.continueOnError ? 'continue-on-error' : 'strict', timeoutSeconds: o.timeout },
    phase: 'staging',
    outcome: 'running',
    result: Object.fromEntries(
      plan.nodes
        .filter((n) => !todo.includes(n.node))
        .map((n) => [n.node, n.action === 'skip' ? `skipped: ${n.skip}` : 'live (unchanged)']),
    ),
  };
  return record;
}

/**
 * `pp deploy <app> --file spec.json`: plan, confirm, lock, record, roll out (stage, flip, follow, revert), report.
 * `signal` aborted (SIGINT, SIGTERM) stops it at its next step: before the lock nothing is written; after, the
 * record says interrupted and the lock is given back.
 */
export async function runDeploy(
  store: IntentStore,
  prefix: string,
  o: DeployOptions,
  signal: AbortSignal,
  given?: GivenDeploy,
): Promise<DeployEnd> {
  const started = Date.now();
  const resume = given?.resume;
  const agents = { stages: agentFor('stages'), putsLive: agentFor('putsLive') };
  let planned: Awaited<ReturnType<typeof planDeploy>>;
  let nodes: string[];
  try {
    const spec = given ? deploySpec(o.app, given.where, JSON.stringify(given.spec)) : await untilInterrupted(signal, readDeploySpec(o));
    checkOptions(o);
    nodes = given ? given.nodes : await untilInterrupted(signal, targetNodes(store, prefix, o));
    // With --json stdout carries the final report alone, so the plan goes to stderr.
    const show = (text: string) => (o.json ? process.stderr : process.stdout).write(text);
    const input = { app: o.app, spec, nodes, silentAfterSeconds: o.silentAfter, signing: o.signKey !== undefined, force: o.force };
    planned = await untilInterrupted(signal, planDeploy(store, prefix, input, show));
    if (o.dryRun) return { outcome: 'dry-run' };
    // A resumed deploy follows its nodes even when every intent is written already (it was killed while following).
    if (planned.todo.length === 0 && !resume) {
      process.stdout.write('nothing to deploy\n');
      return { outcome: 'nothing-to-do', leftAlone: planned.skipped };
    }
    if (!o.yes && !resume) {
      const question = `Deploy ${o.app} ${planned.plan.version} to ${planned.todo.length} node(s)? [y/N] `;
      if (!(await confirmDeploy(question, signal))) {
        log('not confirmed: nothing written');
        return { outcome: 'declined' };
      }
    }
    throwIfInterrupted(signal);
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    log(`stopped by ${err.by} before writing anything: nothing written`);
    return { outcome: 'interrupted' };
  }

  const { plan, todo, unchanged } = planned;
  const lock = await DeployLock.take(store, prefix, o.app, o.lockTtl * 1000);
  if (lock.tookOver) log(lock.tookOver);
  const record = startRecord(plan, o, lock, nodes, started, todo, resume?.id);
  const save = () =>
    writeDeployment(store, prefix, record).catch((err: Error) => log(`cannot write the deployment record: ${err.message}`));
  try {
    lock.assertHeld();
    await save();
    if (resume) log(`resuming deploy ${resume.id} (${resume.outcome} in its ${resume.phase} phase) as ${record.id}`);
    const end = await rollOut(
      {
        writer: { store, prefix, app: o.app, sign: signWith(o.signKey), guard: () => lock.assertHeld() },
        watch: {
          store,
          prefix,
          app: o.app,
          deadline: started + o.timeout * 1000,
          progress: new Progress(process.stderr, started, process.stderr.isTTY === true),
          signal,
          guard: () => lock.assertHeld(),
        },
        plan,
        agents,
        policy: record.policy.mode,
        record,
        save,
        log,
      },
      todo,
      unchanged,
    );
    record.outcome = end.outcome;
    // An interrupted deploy keeps the phase it reached: resume says where it carries on from.
    if (end.outcome !== 'interrupted') record.phase = 'done';
    const result: DeployEnd = { outcome: end.outcome, leftAlone: end.leftAlone };
    process.stdout.write(
      renderReport(
        {
          record,
          phase: end.phase,
          open: end.open,
          staged: end.staged,
          flipped: end.flipped,
          exitCode: deployExitCode(result),
          timeoutSeconds: o.timeout,
          by: end.by,
        },
        o.json,
      ),
    );
    return result;
  } catch (err) {
    record.outcome = err instanceof CliError && err.exitCode === DEPLOY_EXIT.lockLost ? 'lock-lost' : 'failed';
    record.result.error = (err as Error).message;
    throw err;
  } finally {
    record.endedAt = new Date().toISOString();
    await save();
    await lock.release();
  }
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
export async function resumeDeploy(store: IntentStore, prefix: string, o: DeployOptions, signal: AbortSignal): Promise<DeployEnd> {
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
  return runDeploy(store, prefix, { ...o, ...policy }, signal, {
    spec: last.spec,
    nodes: last.nodes,
    where: `deployment ${last.id}`,
    resume: last,
  });
}

/**
 * `pp rollback <app>`: deploys, through the same path (plan, confirmation, stage, flip, follow), the version live
 * before the latest deploy on its nodes, with the spec it was deployed with (the latest record deploying it).
 */
export async function rollbackDeploy(store: IntentStore, prefix: string, o: DeployOptions, signal: AbortSignal): Promise<DeployEnd> {
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
  return runDeploy(store, prefix, o, signal, { spec: earlier.spec, nodes: last.nodes, where: `deployment ${earlier.id}` });
}

/** The digest of the app's intent each of `nodes` holds now, from one read. */
async function digestsNow(store: IntentStore, prefix: string, app: string, nodes: string[]): Promise<Map<string, string>> {
  const base = intentPrefix(prefix);
  const { entries } = await store.read(base);
  const values = new Map(entries.map((e) => [e.key.slice(base.length), e.value]));
  const digests = new Map<string, string>();
  for (const node of nodes) {
    const digest = digestOfValue(app, values.get(`${node}/${app}`));
    if (digest !== undefined) digests.set(node, digest);
  }
  return digests;
}

/**
 * `pp deploy follow <app>`: watches the latest deploy's nodes until the version is live on all, fails, or --timeout;
 * writes nothing. A record counts once it answers the intent its node holds at that look.
 */
export async function followDeploy(store: IntentStore, prefix: string, o: DeployOptions, signal: AbortSignal): Promise<DeployEnd> {
  const started = Date.now();
  const last = await latestDeployment(store, prefix, o.app);
  process.stderr.write(`following deploy ${last.id} of ${o.app} ${last.version} (${last.outcome}, ${last.nodes.length} nodes)\n`);
  const watch = {
    store,
    prefix,
    app: o.app,
    deadline: started + o.timeout * 1000,
    progress: new Progress(process.stderr, started, process.stderr.isTTY === true),
    signal,
  };
  let flip: Awaited<ReturnType<typeof followPhase>>;
  try {
    flip = await followPhase(watch, {
      phase: 'flip',
      agent: agentFor('putsLive'),
      nodes: last.nodes,
      stopOnFailure: !o.continueOnError,
      x: { app: o.app, version: last.version, sha256: last.sha256 },
      digests: () => digestsNow(store, prefix, o.app, last.nodes),
      stateOf: flipState,
    });
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    log(`stopped following by ${err.by}`);
    return { outcome: 'interrupted' };
  }
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
  if (flip.timedOut) return { outcome: 'timed-out' };
  return { outcome: flip.states.some((s) => s.state === 'failed') ? 'failed' : 'succeeded' };
}
