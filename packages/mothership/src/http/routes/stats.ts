import { ErrorBody, Stats } from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

import { jobStore } from '../../jobs/job-store.ts';
import { taskStore } from '../../jobs/task-store.ts';
import { runnerStore } from '../../runners/runner-store.ts';
import type { RouteOptions } from '../services.ts';

export const statsRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { db } = services;
  app.get(
    '/stats',
    { schema: { tags: ['stats'], summary: 'Counts for the overview page', response: { 200: Stats, 401: ErrorBody } } },
    async () => {
      const [jobs, tasks, runners, queue] = await Promise.all([
        jobStore.countByStatus(db),
        taskStore.countByStatus(db),
        runnerStore.countByStatus(db),
        taskStore.queueDepth(db),
      ]);
      const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
      return {
        jobs: { ...jobs, total: sum(jobs) },
        tasks,
        runners: { ...runners, total: sum(runners) },
        queue_depth: queue.depth,
        oldest_pending_seconds: queue.oldestSeconds,
      };
    },
  );
};
