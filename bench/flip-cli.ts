// The operator's side of a flip: how long `pp intent put` takes as a process, beside bare `node -e 0` measured
// the same way in the same run (the floor any Node CLI pays on this machine before its first line runs).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mustRun } from './processes.js';
import { agentBin } from './support.js';

export interface CliTimes {
  /** `pp intent put` wall times (ms), to a node no agent watches, so nothing else reacts. */
  put: number[];
  /** `node -e 0` wall times (ms). */
  bareNode: number[];
}

/** Times `n` runs of `pp intent put` of `spec` into `store` (under node `bench-cli`) and `n` runs of bare node. */
export async function timeCli(root: string, store: string, spec: object, n: number): Promise<CliTimes> {
  const file = join(root, 'cli-spec.json');
  await writeFile(file, JSON.stringify(spec));
  const times: CliTimes = { put: [], bareNode: [] };
  for (let i = 0; i < n; i += 1) {
    const put = await mustRun([process.execPath, agentBin('pp'), 'intent', 'put', 'bench-cli', 'app', '--file', file, '--store', store]);
    times.put.push(put.seconds * 1000);
    times.bareNode.push((await mustRun([process.execPath, '-e', '0'])).seconds * 1000);
  }
  return times;
}
