import { defineConfig } from 'vitest/config';

/**
 * `npm run chaos`: the slow reliability scenarios (test/reliability/*.chaos.ts). They kill,
 * freeze and restart real mothership, solder and PostgreSQL processes, so they run one file at
 * a time. The PostgreSQL scenarios start a cluster of their own and never touch a shared server.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.chaos.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
