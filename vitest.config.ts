import { defineConfig } from 'vitest/config';

/**
 * One runner for every package. The suite runs once per engine: embedded PGlite by default,
 * a PostgreSQL server when BORG_TEST_DATABASE_URL is set (.ci/run does both).
 */
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'packages/*/test/**/*.test.tsx', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Two cores here; each PGlite instance holds ~300 MB while a file runs.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 10_000,
    reporters: ['default'],
  },
});
