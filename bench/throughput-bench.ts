// Preparer throughput: runs bench/preparer-bench (pp-preparer vs `curl | tar -xz` on one ≥ 512 MB artifact, and vs
// `tar -xzf` + `sync -f` on 20,000 small files in 200 folders, in the same run) as its own process and turns its
// closing lines into table rows.
import { join } from 'node:path';
import { timedRun } from './processes.js';
import { REPO, say, type Row } from './support.js';

const SCRIPT = join(REPO, 'dist-bench/bench/preparer-bench.js');

/** The first capture of `re` in `text`, or '?' (so a changed report shows up as '?' rather than a crash). */
const grab = (text: string, re: RegExp): string => re.exec(text)?.[1] ?? '?';

/** Runs preparer-bench with `--size-mb` and `--runs`; throws with its output when it fails. */
export async function throughputBench(sizeMb: number, runs: number): Promise<Row[]> {
  say(`throughput: node dist-bench/bench/preparer-bench.js --size-mb ${sizeMb} --runs ${runs} (takes minutes)`);
  const r = await timedRun([process.execPath, SCRIPT, '--size-mb', String(sizeMb), '--runs', String(runs)]);
  process.stderr.write(
    r.stdout
      .split('\n')
      .map((l) => (l ? `  preparer-bench: ${l}` : l))
      .join('\n'),
  );
  if (r.code !== 0) throw new Error(`preparer-bench exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const out = r.stdout;
  const ratio = Number(grab(out, /ratio pp-preparer \/ GNU tar: ([\d.]+) by wall/));
  const rss = Number(grab(out, /peak RSS: max ([\d.]+) MB/));
  const artifact = grab(out, /artifact: (\d+) MB compressed/);
  const manyRatio = Number(grab(out, /many-files ratio pp-preparer \/ \(tar -xzf \+ sync -f\): ([\d.]+) by wall/));
  const manyRss = Number(grab(out, /many-files pp-preparer peak RSS: max ([\d.]+) MB/));
  return [
    {
      bench: 'preparer throughput',
      metric: `median install of a ${artifact} MB (gz) artifact, ${runs} run(s)`,
      value: `${grab(out, /median pp-preparer: +([\d.]+ s wall \(\d+ MB\/s)/)})`,
      baseline: `curl|tar -xz: ${grab(out, /median curl\|tar -xz: ([\d.]+ s wall \(\d+ MB\/s)/)})`,
    },
    {
      bench: 'preparer throughput',
      metric: 'throughput ratio preparer / curl|tar (wall)',
      value: ratio.toFixed(2),
      target: '≥ 0.90 (issue 3)',
      verdict: ratio >= 0.9 ? 'met' : 'MISSED',
      baseline: `by CPU: ${grab(out, /by wall time \(target ≥ 0.90\), ([\d.]+) by CPU/)}`,
    },
    {
      bench: 'preparer throughput',
      metric: 'pp-preparer peak RSS',
      value: `${rss.toFixed(1)} MB`,
      target: '≤ 100 MB (issue 3)',
      verdict: rss <= 100 ? 'met' : 'MISSED',
    },
    {
      bench: 'preparer throughput',
      metric: `median install of ${grab(out, /many-files artifact: (\d+) files/)} small files in 200 folders, ${runs} run(s)`,
      value: `${grab(out, /many-files median pp-preparer: ([\d.]+) s/)} s`,
      baseline: `tar -xzf + sync -f: ${grab(out, /many-files median tar -xzf \+ sync -f: ([\d.]+) s/)} s`,
    },
    {
      bench: 'preparer throughput',
      metric: 'many-files ratio preparer / (tar -xzf + sync -f) (wall)',
      value: manyRatio.toFixed(2),
      target: '≥ 0.50',
      verdict: manyRatio >= 0.5 ? 'met' : 'MISSED',
    },
    {
      bench: 'preparer throughput',
      metric: 'pp-preparer peak RSS (many files)',
      value: `${manyRss.toFixed(1)} MB`,
      target: '≤ 100 MB',
      verdict: manyRss <= 100 ? 'met' : 'MISSED',
    },
  ];
}
