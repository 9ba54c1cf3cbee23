import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { workerModules } from './test/support/worker-modules.js';

export default defineConfig({
  // A worker thread started from a module file (the preparer's tree writer) runs that module's source, bundled.
  plugins: [workerModules()],
  test: {
    include: ['test/**/*.test.ts'],
    // The cluster fault tests take minutes: `npm run test:fleet` (vitest.fleet.config.ts).
    exclude: [...configDefaults.exclude, 'test/fleet/**'],
    globalSetup: ['test/global-setup.ts'],
    // Agents the tests start keep their state files here, not in /var/lib/platypus of the machine running them.
    env: { PLATYPUS_STATE_DIR: mkdtempSync(join(tmpdir(), 'pp-test-state-')) },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests share one real Consul agent; files run in parallel workers but each uses its own key prefix.
    pool: 'forks',
  },
});
