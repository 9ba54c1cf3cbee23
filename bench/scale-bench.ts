// Scale on one host: `--once` passes of pp-preparer and pp-iptables over N apps on the folder store: fresh (the
// preparer installing a small artifact per app) for N/10 and N apps, to show the cost grows linearly, then a
// no-op pass over the N apps already converged. Baseline: the same no-op pass over 1 app (the fixed cost).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_EXIT } from '../shared/exit-codes.js';
import { appIntent, intentKey, makeArtifact, NODE, type Artifact } from './apps.js';
import { iptablesSetup, type IptablesSetup } from './consul-env.js';
import { timedRun, type TimedRun } from './processes.js';
import { agentBin, mb, say, sec, verdict, type Row } from './support.js';

interface Pass {
  fresh: TimedRun;
  noop: TimedRun;
}

/** Runs `--once` and throws with its output unless it exits 0 (every app converged). */
async function once(agent: string, store: string, extra: string[]): Promise<TimedRun> {
  const r = await timedRun([
    process.execPath,
    agentBin(agent),
    '--once',
    '--store',
    `folder:${store}`,
    '--node',
    NODE,
    '--log-level',
    'warn',
    ...extra,
  ]);
  if (r.code !== AGENT_EXIT.converged) throw new Error(`pp-${agent} --once exited ${r.code}: ${r.stderr.slice(-1500)}`);
  return r;
}

/** The median (by wall time) of three no-op `--once` runs: one run on a busy host is mostly noise. */
async function noop(agent: string, store: string, extra: string[]): Promise<TimedRun> {
  const runs = [await once(agent, store, extra), await once(agent, store, extra), await once(agent, store, extra)];
  return runs.sort((a, b) => a.seconds - b.seconds)[1]!;
}

/** Writes N apps' intent (one prepared version each, one port each) straight into a fresh folder store. */
async function writeIntents(root: string, n: number, artifact: Artifact): Promise<string> {
  const store = join(root, `store-${n}`);
  await mkdir(join(store, intentKey('x'), '..'), { recursive: true });
  for (let i = 0; i < n; i += 1) {
    const app = `app-${String(i).padStart(4, '0')}`;
    await writeFile(join(store, intentKey(app)), JSON.stringify(appIntent(join(root, `apps-${n}`, app), 20000 + i, undefined, [artifact])));
  }
  return store;
}

/** A fresh pass then a no-op pass of each agent over `n` apps; pp-iptables once per setup given. */
async function passes(root: string, n: number, artifact: Artifact, setups: IptablesSetup[]): Promise<Map<string, Pass>> {
  const store = await writeIntents(root, n, artifact);
  const out = new Map<string, Pass>();
  say(`scale: ${n} apps`);
  const fresh = await once('preparer', store, ['--progress', 'off']);
  out.set('preparer', { fresh, noop: await noop('preparer', store, ['--progress', 'off']) });
  for (const s of setups) {
    const args = s.mode === 'port-authority' ? [...s.args.slice(0, 3), `${s.args[3]}-${n}`, ...s.args.slice(4)] : s.args;
    const first = await once('iptables', store, args);
    out.set(`iptables (${s.mode})`, { fresh: first, noop: await noop('iptables', store, args) });
  }
  return out;
}

function rowsFor(name: string, n: number, one: Pass, small: Pass, big: Pass): Row[] {
  const growth = big.fresh.seconds / small.fresh.seconds;
  const perApp = (p: Pass, k: number) => `${(((p.fresh.seconds - one.fresh.seconds) / k) * 1000).toFixed(1)} ms/app`;
  return [
    {
      bench: `scale ${name}`,
      metric: `fresh pass, ${Math.round(n / 10)} apps: time, peak RSS`,
      value: `${sec(small.fresh.seconds)}, ${mb(small.fresh.peakRssMb)}`,
      baseline: `1 app: ${sec(one.fresh.seconds)}, ${mb(one.fresh.peakRssMb)}`,
    },
    {
      bench: `scale ${name}`,
      metric: `fresh pass, ${n} apps: time, peak RSS`,
      value: `${sec(big.fresh.seconds)}, ${mb(big.fresh.peakRssMb)}`,
      baseline: `×${(n / (n / 10)).toFixed(0)} apps → ×${growth.toFixed(1)} time; ${perApp(small, n / 10 - 1)} vs ${perApp(big, n - 1)}`,
    },
    {
      bench: `scale ${name}`,
      metric: `no-op pass, ${n} apps (median of 3): time, peak RSS`,
      value: `${sec(big.noop.seconds)}, ${mb(big.noop.peakRssMb)}`,
      target: '≤ 1 s',
      verdict: verdict(big.noop.seconds, 1),
      baseline: `no-op, 1 app: ${sec(one.noop.seconds)}, ${mb(one.noop.peakRssMb)}`,
    },
    {
      bench: `scale ${name}`,
      metric: `no-op pass, ${n} apps, above the 1-app pass`,
      value: sec(big.noop.seconds - one.noop.seconds),
      target: '≤ 1 s',
      verdict: verdict(big.noop.seconds - one.noop.seconds, 1),
      baseline: 'the per-app share, without process start',
    },
  ];
}

/** Runs the scale benchmark for `n` apps (and n/10, and 1 as the baseline). */
export async function scaleBench(n: number): Promise<Row[]> {
  const root = await mkdtemp(join(tmpdir(), 'pp-bench-scale-'));
  const setups: IptablesSetup[] = [];
  try {
    const artifact = await makeArtifact(root, 'app', '1.0');
    const native = await iptablesSetup(root, 'scale');
    setups.push(native);
    if (native.mode !== 'port-authority')
      setups.push({
        args: ['--mode', 'port-authority', '--config-dir', join(root, 'pa'), '--refresh-command', 'true'],
        mode: 'port-authority',
        cleanup: async () => {},
      });
    const node = await timedRun([process.execPath, '-e', '0']);
    const results = [];
    for (const k of [1, Math.round(n / 10), n]) results.push(await passes(root, k, artifact, setups));
    const rows: Row[] = [
      { bench: 'scale', metric: 'node -e 0 (runtime start alone)', value: `${sec(node.seconds)}, ${mb(node.peakRssMb)}` },
    ];
    for (const name of results[0]!.keys())
      rowsFor(name, n, results[0]!.get(name)!, results[1]!.get(name)!, results[2]!.get(name)!).forEach((r) => {
        rows.push(r);
      });
    return rows;
  } finally {
    for (const s of setups) await s.cleanup();
    await rm(root, { recursive: true, force: true });
  }
}
