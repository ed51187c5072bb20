import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The chaos and pipeline tests mostly wait (for visibility timeouts, a provider's minute): three at once keep
    // two cores busy instead of one.
    maxWorkers: 3,
  },
});
