import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The chaos tests mostly wait (for visibility timeouts, a provider's minute): two files at once keep both
    // cores busy; more would starve the ones that push hundreds of items through the pipeline.
    maxWorkers: 2,
  },
});
