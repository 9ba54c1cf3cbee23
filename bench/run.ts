#!/usr/bin/env node
// `npm run bench`: runs the benchmarks and prints one table of figures beside their targets and the baselines
// measured in the same run, so a figure is judged against this machine's load rather than another's. Progress goes to stderr, the table to stdout.
// Usage: node dist-bench/bench/run.js [--only flip|idle|scale|rollout|throughput|fleet] [--rollout-nodes 12] [--flips 50] [--service-starts 20] [--cli-runs 20] [--flip-store both|folder|consul]
//   [--idle-seconds 600] [--idle-settle-seconds 70] [--idle-metrics] [--keep-files]
//   [--agent-node-options '--max-semi-space-size=1'] [--scale-apps 1000] [--skip-throughput] [--size-mb 640] [--throughput-runs 3]
//   [--fleet-nodes 50] [--fleet-rounds 3] [--fleet-idle-nodes 200] [--fleet-idle-seconds 300]
import { cpus, loadavg } from 'node:os';
import { BENCH_EXIT } from '../shared/exit-codes.js';
import { fleetBench } from './fleet-bench.js';
import { flipBench } from './flip-bench.js';
import { idleBench } from './idle-bench.js';
import { rolloutBench } from './rollout-bench.js';
import { scaleBench } from './scale-bench.js';
import { flag, hasFlag, numberFlag, printTable, say, type Row } from './support.js';
import { throughputBench } from './throughput-bench.js';

const BENCHES: Record<string, () => Promise<Row[]>> = {
  flip: async () => {
    const which = flag('flip-store', 'both');
    if (!['both', 'folder', 'consul'].includes(which)) throw new Error(`--flip-store ${which}: expected both, folder or consul`);
    const kinds = which === 'both' ? (['folder', 'consul'] as const) : [which as 'folder' | 'consul'];
    const rows: Row[] = [];
    for (const kind of kinds)
      rows.push(...(await flipBench(kind, numberFlag('flips', 50), numberFlag('service-starts', 20), numberFlag('cli-runs', 20))));
    return rows;
  },
  idle: () =>
    idleBench(
      numberFlag('idle-seconds', 600),
      numberFlag('idle-settle-seconds', 70),
      flag('agent-node-options', ''),
      hasFlag('idle-metrics'),
    ),
  scale: () => scaleBench(numberFlag('scale-apps', 1000)),
  rollout: () => rolloutBench(numberFlag('rollout-nodes', 12)),
  throughput: () => throughputBench(numberFlag('size-mb', 640), numberFlag('throughput-runs', 3)),
  fleet: () =>
    fleetBench(
      numberFlag('fleet-nodes', 50),
      numberFlag('fleet-rounds', 3),
      numberFlag('fleet-idle-nodes', 200),
      numberFlag('fleet-idle-seconds', 300),
    ),
};

async function main(): Promise<number> {
  const only = flag('only', '');
  if (only !== '' && !(only in BENCHES)) {
    process.stderr.write(`bench: --only ${only}: expected one of ${Object.keys(BENCHES).join(', ')}\n`);
    return BENCH_EXIT.usage;
  }
  const chosen = only ? [only] : Object.keys(BENCHES).filter((b) => !(b === 'throughput' && hasFlag('skip-throughput')));
  const rows: Row[] = [];
  const startLoad = loadavg()[0]!;
  let failed = false;
  for (const name of chosen) {
    const started = Date.now();
    say(`${name}: starting`);
    try {
      rows.push(...(await BENCHES[name]!()));
    } catch (err) {
      failed = true;
      rows.push({ bench: name, metric: 'FAILED', value: (err as Error).message.split('\n')[0]!.slice(0, 160) });
      process.stderr.write(`bench: ${name} failed: ${(err as Error).stack}\n`);
    }
    say(`${name}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  rows.push({
    bench: 'host',
    metric: 'CPUs; load average (1 min) at the end',
    value: `${cpus().length}; ${loadavg()[0]!.toFixed(2)}`,
    baseline: `bench started at load ${startLoad.toFixed(2)}`,
  });
  printTable(rows);
  return failed ? BENCH_EXIT.failed : BENCH_EXIT.ok;
}

process.exitCode = await main();
