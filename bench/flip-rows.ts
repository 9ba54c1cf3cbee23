// The flip benchmark's rows: the flip itself (intent written → new version answers) held to the target, the
// service's own start apart, and the `pp intent put` process apart beside bare node.
import type { CliTimes } from './flip-cli.js';
import type { FlipTimes } from './flip-timeline.js';
import { ms, percentile, verdict, type Row } from './support.js';

const p = (xs: number[]) => `p50 ${ms(percentile(xs, 50))}, p99 ${ms(percentile(xs, 99))}`;

/** Rows for one store kind: totals, the service start, the target row, the CLI and the median steps. */
export function flipRows(kind: string, flips: FlipTimes[], starts: number[], cli: CliTimes, timeline: string): Row[] {
  const bench = `flip (${kind})`;
  const total = flips.map((f) => f.answered - f.put);
  const ownStart = flips.map((f) => f.answered - f.forked);
  const excl = flips.map((f) => f.forked - f.written);
  const cli50 = percentile(cli.put, 50);
  return [
    { bench, metric: `intent written → new version answers (${flips.length} flips)`, value: p(total) },
    {
      bench,
      metric: "of which the service's own start (runsv fork → first answer)",
      value: p(ownStart),
      baseline: `${starts.length} direct starts: ${p(starts)}`,
    },
    {
      bench,
      metric: 'flip excluding service start (written → runsv forks the new version)',
      value: p(excl),
      target: '≤ 100 ms p50',
      verdict: verdict(percentile(excl, 50), 100),
    },
    {
      bench,
      metric: `pp intent put, the process alone (${cli.put.length} runs)`,
      value: p(cli.put),
      baseline: `bare node -e 0: ${p(cli.bareNode)}`,
    },
    {
      bench,
      metric: 'from running pp intent put, excluding service start',
      value: `p50 ${ms(cli50 + percentile(excl, 50))} (CLI p50 + flip p50)`,
      target: '≤ 100 ms p50',
      verdict: verdict(cli50 + percentile(excl, 50), 100),
      baseline: `bare node alone: ${ms(percentile(cli.bareNode, 50))}`,
    },
    { bench, metric: 'median steps (setlive debug log)', value: timeline },
  ];
}
