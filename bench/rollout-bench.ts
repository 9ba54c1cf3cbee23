// Rollout pacing: 12 simulated nodes (each a real pp-setlive with its own runsvdir) against a real Consul agent
// flip an app with rollout.maxParallel 1, 3 and 12. Each total, from the one transaction that writes every node's
// intent to the last node's reality reporting the new version converged, is set beside its floor: waves × the time
// one node alone takes for the same flip (stop, start, health, minHealthySeconds, slot taken and given back),
// measured in the same run.
import { APP, FlipFleet, type FleetNode } from '../test/system/support/flip-fleet.js';
import { startBenchConsul } from './consul-env.js';
import { percentile, say, sec, sleep, verdict, type Row } from './support.js';
import { appIntentKey } from '../shared/keys.js';

const V1 = { version: '1.0' };
const V2 = { version: '2.0' };
const MIN_HEALTHY_SECONDS = 2;

/** Writes `to` live on `nodes` (others keep theirs) and returns the seconds until all report it converged. */
async function rollOut(fleet: FlipFleet, nodes: FleetNode[], to: typeof V1, maxParallel?: number): Promise<number> {
  const from = to === V1 ? V2 : V1;
  const rollout = maxParallel === undefined ? undefined : { maxParallel, minHealthySeconds: MIN_HEALTHY_SECONDS };
  const started = Date.now();
  await fleet.store.transaction(
    nodes.map((n) => ({ key: appIntentKey(fleet.prefix, n.name, APP), value: JSON.stringify(fleet.intentOf(n, to, [from], rollout)) })),
  );
  const deadline = started + 600_000;
  for (;;) {
    const records = await Promise.all(nodes.map((n) => fleet.reality(n)));
    if (records.every((r) => r?.status === 'converged' && r.version === to.version)) return (Date.now() - started) / 1000;
    if (Date.now() > deadline) throw new Error(`rollout to ${to.version} with maxParallel ${maxParallel} did not finish in 600 s`);
    await sleep(50);
  }
}

export async function rolloutBench(nodeCount = 12): Promise<Row[]> {
  const consul = await startBenchConsul();
  const fleet = await FlipFleet.start(`consul://${consul.address}`, `ppbench-rollout-${process.pid}`, nodeCount, [V1, V2]);
  try {
    await fleet.writeAll((n) => fleet.intentOf(n, V1, [V2], { maxParallel: nodeCount, minHealthySeconds: MIN_HEALTHY_SECONDS }));
    fleet.startAgents();
    const first = fleet.nodes;
    for (let t = Date.now(); ; await sleep(100)) {
      const records = await Promise.all(first.map((n) => fleet.reality(n)));
      if (records.every((r) => r?.status === 'converged' && r.version === '1.0')) break;
      if (Date.now() - t > 300_000) throw new Error('the fleet did not start 1.0 within 300 s');
    }
    say(`rollout: ${nodeCount} nodes run 1.0; timing one node alone`);
    // One node alone, back and forth: the flip time the floor is built from.
    const alone: number[] = [];
    let on = V1;
    for (let i = 0; i < 3; i++) {
      on = on === V1 ? V2 : V1;
      alone.push(await rollOut(fleet, [fleet.nodes[0]!], on, 1));
    }
    if (on === V2) alone.push(await rollOut(fleet, [fleet.nodes[0]!], V1, 1));
    const single = percentile(alone, 50);
    const rows: Row[] = [
      {
        bench: 'rollout',
        metric: `one node's flip alone (median of ${alone.length}; minHealthySeconds ${MIN_HEALTHY_SECONDS})`,
        value: sec(single),
        baseline: alone.map((x) => x.toFixed(2)).join(', '),
      },
    ];
    // The same flip on every node at once with no rollout section (no slots, no hold): what the host's two cores
    // take to stop and start every node together, the floor a single wave of all nodes cannot beat.
    say(`rollout: ${nodeCount} nodes at once, no rollout section`);
    const unpaced = (await rollOut(fleet, fleet.nodes, V2)) + MIN_HEALTHY_SECONDS;
    await rollOut(fleet, fleet.nodes, V1);
    rows.push({
      bench: 'rollout',
      metric: `${nodeCount} nodes at once with no rollout section, + ${MIN_HEALTHY_SECONDS} s hold`,
      value: sec(unpaced),
      baseline: 'each node flips on its own (CPU-bound here: every app and check starts together)',
    });
    let to = V2;
    for (const maxParallel of [1, 3, nodeCount]) {
      say(`rollout: ${nodeCount} nodes, maxParallel ${maxParallel}`);
      const total = await rollOut(fleet, fleet.nodes, to, maxParallel);
      const waves = Math.ceil(nodeCount / maxParallel);
      const floor = maxParallel === nodeCount ? unpaced : waves * single;
      rows.push({
        bench: 'rollout',
        metric: `${nodeCount} nodes, maxParallel ${maxParallel}: total (ratio to the floor)`,
        value: `${sec(total)} (${(total / floor).toFixed(2)})`,
        target: '≤ 1.30 × floor',
        verdict: verdict(total / floor, 1.3),
        baseline:
          maxParallel === nodeCount
            ? `floor: the same ${nodeCount} flips with no rollout section, ${sec(unpaced)} (1 wave × one node alone: ${sec(single)})`
            : `floor ${waves} waves × ${sec(single)} = ${sec(floor)}`,
      });
      to = to === V1 ? V2 : V1;
    }
    return rows;
  } finally {
    await fleet.stop();
    await consul.stop();
  }
}
