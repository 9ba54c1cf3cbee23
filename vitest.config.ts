import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The cluster fault tests take minutes: `npm run test:fleet` (vitest.fleet.config.ts).
    exclude: [...configDefaults.exclude, 'test/fleet/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests share one real Consul agent; files run in parallel workers but each uses its own key prefix.
    pool: 'forks',
  },
});
