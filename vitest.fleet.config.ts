import { defineConfig } from 'vitest/config';

// `npm run test:fleet`: the fault tests against a real 3-server Consul cluster (test/fleet/). Each file starts a
// cluster of its own, so the files run at once; each takes one to three minutes, mostly waiting on Consul.
export default defineConfig({
  test: {
    include: ['test/fleet/**/*.test.ts'],
    testTimeout: 360_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
  },
});
