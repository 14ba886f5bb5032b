import {
  ErrorBody,
  Stats,
  StatsTimeseries,
  TIMESERIES_BUCKETS,
  TIMESERIES_WINDOWS,
  TimeseriesQuery,
} from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

import { jobStore } from '../../jobs/job-store.ts';
import { MISSED_HEARTBEATS_BEFORE_OFFLINE } from '../../jobs/maintenance.ts';
import { taskStore } from '../../jobs/task-store.ts';
import { taskTimeseries } from '../../jobs/task-timeseries.ts';
import { runnerStore } from '../../runners/runner-store.ts';
import type { RouteOptions } from '../services.ts';

export const statsRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { db, config } = services;
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
        runner_offline_after_seconds: config.heartbeatIntervalSeconds * MISSED_HEARTBEATS_BEFORE_OFFLINE,
      };
    },
  );

  app.get(
    '/stats/timeseries',
    {
      schema: {
        tags: ['stats'],
        summary: 'Tasks finished, queue depth, queue wait (p50/p95) and runner utilisation over a window',
        querystring: TimeseriesQuery,
        response: { 200: StatsTimeseries, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (request) => taskTimeseries(db, TIMESERIES_WINDOWS[request.query.window], TIMESERIES_BUCKETS),
  );
};
