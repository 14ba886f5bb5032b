import { defineConfig } from 'vitest/config';

/**
 * `npm run test:netns`: partitions between real hosts, made of network namespaces (test/netns/).
 * Slow (a minute a case) and root only, so not in `npm test`; .ci/run runs it when the code it
 * covers changed. Where namespaces cannot be made it reports its cases skipped, saying why.
 */
export default defineConfig({
  test: {
    include: ['test/netns/**/*.netns.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
