import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import { workerModules } from './test/support/worker-modules.js';

// `npm run test:fleet`: the fault tests against a real 3-server Consul cluster and the fleet-safe flips over simulated
// nodes (test/fleet/). Cluster files start a cluster of their own; the others share the one dev agent of the global
// setup. Each takes one to four minutes, mostly waiting on Consul and on the simulated nodes.
export default defineConfig({
  // A worker thread started from a module file (the preparer's tree writer) runs that module's source, bundled.
  plugins: [workerModules()],
  test: {
    include: ['test/fleet/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Agents the tests start keep their state files here, not in /var/lib/platypus of the machine running them.
    env: { PLATYPUS_STATE_DIR: mkdtempSync(join(tmpdir(), 'pp-test-state-')) },
    testTimeout: 360_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
  },
});
