import { z } from 'zod';

import { JOB_STATUSES, TASK_STATUSES } from './jobs.ts';
import { RUNNER_STATUSES } from './runners.ts';

const counts = <T extends readonly [string, ...string[]]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<T[number], z.ZodNumber>);

/** Bytes stored, and how many things hold them. */
export const StorageUse = z.object({ bytes: z.number().int().nonnegative(), count: z.number().int().nonnegative() });
export type StorageUse = z.infer<typeof StorageUse>;

/** What Borg's data takes, measured at most every few seconds (not live). */
export const StorageUsage = z.object({
  /** Task logs in the database: the chunk table with its TOAST (big chunks compressed) and index; count: chunks. */
  logs: StorageUse,
  /** Files tasks uploaded as artifacts (the file store: a directory or S3); count: files. */
  artifacts: StorageUse,
  /** Files uploaded for jobs to use (the file store); count: files. */
  files: StorageUse,
  /** When these figures were read. */
  measured_at: z.string(),
});
export type StorageUsage = z.infer<typeof StorageUsage>;

export const Stats = z.object({
  jobs: counts(JOB_STATUSES).extend({ total: z.number().int() }),
  tasks: counts(TASK_STATUSES),
  runners: counts(RUNNER_STATUSES).extend({ total: z.number().int() }),
  /** Pending tasks that could be claimed now (not paused, not waiting for a retry backoff). */
  queue_depth: z.number().int(),
  /** Age in seconds of the oldest claimable task, 0 when none. */
  oldest_pending_seconds: z.number(),
  /** Seconds of heartbeat silence after which a runner is marked offline. */
  runner_offline_after_seconds: z.number().int().optional(),
  /** Storage used by logs, artifacts and uploaded files. */
  storage: StorageUsage,
});
export type Stats = z.infer<typeof Stats>;

/** The windows the overview's charts can ask for; each is cut into 60 buckets. */
export const TIMESERIES_WINDOWS = { '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400 } as const;
export const TIMESERIES_BUCKETS = 60;

export const TimeseriesQuery = z.strictObject({
  window: z.enum(Object.keys(TIMESERIES_WINDOWS) as [keyof typeof TIMESERIES_WINDOWS]).default('1h'),
});
export type TimeseriesQuery = z.input<typeof TimeseriesQuery>;

export const TimeseriesPoint = z.object({
  /** Start of the bucket. */
  t: z.string(),
  /** Attempts that ended in the bucket, by how. */
  finished: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  /** Claimable pending tasks at the end of the bucket (paused jobs included). */
  queue_depth: z.number().int(),
  /** Seconds from claimable to claimed of the tasks claimed in the bucket; null when none was. */
  wait_p50_seconds: z.number().nullable(),
  wait_p95_seconds: z.number().nullable(),
  /** Tasks held by runners (assigned or running) at the end of the bucket. */
  held_tasks: z.number().int(),
  /** held_tasks over the capacity of the runners online now; null when none is. */
  utilisation: z.number().nullable(),
});
export type TimeseriesPoint = z.infer<typeof TimeseriesPoint>;

export const StatsTimeseries = z.object({
  window_seconds: z.number().int(),
  bucket_seconds: z.number().int(),
  /** Task slots (max_concurrent_tasks) of the runners online now. */
  capacity: z.number().int(),
  points: z.array(TimeseriesPoint),
});
export type StatsTimeseries = z.infer<typeof StatsTimeseries>;
