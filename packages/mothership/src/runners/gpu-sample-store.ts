import type { GpuSample } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

/** One GPU's samples while a task held it, oldest first. */
export interface TaskGpuSeries {
  index: number;
  samples: Array<{ at: string; utilization_pct: number | null; memory_used_mb: number | null }>;
}

/** The most points a task's chart gets per GPU: longer series are averaged into this many buckets. */
export const MAX_CHART_POINTS = 240;

/** One GPU of the fleet as /metrics reports it. */
export interface FleetGpu {
  runner: string;
  index: number;
  utilization_pct: number | null;
  memory_used_mb: number | null;
  allocated: boolean;
}

/** SQL for GPU telemetry: each GPU's last sample on its runner, every sample on the task holding it. */
export const gpuSampleStore = {
  /** Every GPU of the runners online now (at most `limit`), with its last sample and whether a task holds it. */
  async fleet(db: Queryable, limit: number): Promise<FleetGpu[]> {
    const { rows } = await db.query<FleetGpu>(
      `SELECT r.name AS runner, (g ->> 'index')::integer AS index,
              (r.gpu_samples -> (g ->> 'index') ->> 'utilization_pct')::real AS utilization_pct,
              (r.gpu_samples -> (g ->> 'index') ->> 'memory_used_mb')::real AS memory_used_mb,
              EXISTS (SELECT 1 FROM tasks t
                       WHERE t.runner_id = r.id AND t.status IN ('assigned', 'running')
                         AND t.gpus @> jsonb_build_array(jsonb_build_object('index', (g ->> 'index')::integer)))
                AS allocated
         FROM runners r, jsonb_array_elements(r.capacity -> 'gpus') g
        WHERE r.deleted_at IS NULL AND r.status = 'online' AND r.capacity IS NOT NULL
        ORDER BY r.name, 2 LIMIT $1`,
      [limit],
    );
    return rows;
  },

  /**
   * Records a heartbeat's samples in one statement: the newest of each GPU becomes the runner's
   * view of it, and each sample of a GPU that a live task of this runner holds is kept for that
   * task. Samples of GPUs the runner does not have, or no task holds, update only the runner.
   */
  async record(db: Queryable, runnerId: string, samples: readonly GpuSample[]): Promise<void> {
    if (samples.length === 0) return;
    await db.query(
      `WITH s AS (
         SELECT x.index, x.utilization_pct, x.memory_used_mb, x.memory_free_mb, coalesce(x.at, now()) AS at
           FROM jsonb_to_recordset($2::jsonb)
                AS x(index integer, utilization_pct real, memory_used_mb real, memory_free_mb real, at timestamptz)
       ), latest AS (
         SELECT DISTINCT ON (index) * FROM s ORDER BY index, at DESC
       ), runner AS (
         UPDATE runners SET gpu_samples = gpu_samples || (
           SELECT jsonb_object_agg(index::text, jsonb_build_object(
                    'utilization_pct', utilization_pct, 'memory_used_mb', memory_used_mb,
                    'memory_free_mb', memory_free_mb, 'at', at))
             FROM latest)
          WHERE id = $1
       )
       INSERT INTO task_gpu_samples (task_id, gpu_index, sampled_at, utilization_pct, memory_used_mb, memory_free_mb)
       SELECT t.id, s.index, s.at, s.utilization_pct, s.memory_used_mb, s.memory_free_mb
         FROM s JOIN tasks t
           ON t.runner_id = $1 AND t.status IN ('assigned', 'running')
          AND t.gpus @> jsonb_build_array(jsonb_build_object('index', s.index))`,
      [runnerId, JSON.stringify(samples)],
    );
  },

  /** A task's samples per GPU, averaged into at most MAX_CHART_POINTS buckets of equal time. */
  async ofTask(db: Queryable, taskId: string): Promise<TaskGpuSeries[]> {
    const { rows } = await db.query<{
      gpu_index: number;
      at: Date;
      utilization_pct: number | null;
      memory_used_mb: number | null;
    }>(
      `WITH span AS (
         SELECT min(sampled_at) AS first, greatest(extract(epoch FROM max(sampled_at) - min(sampled_at)), 1) AS seconds
           FROM task_gpu_samples WHERE task_id = $1
       )
       SELECT s.gpu_index, min(s.sampled_at) AS at, avg(s.utilization_pct)::real AS utilization_pct,
              avg(s.memory_used_mb)::real AS memory_used_mb
         FROM task_gpu_samples s, span
        WHERE s.task_id = $1
        GROUP BY s.gpu_index, floor(extract(epoch FROM s.sampled_at - span.first) / span.seconds * ($2 - 1))
        ORDER BY s.gpu_index, at`,
      [taskId, MAX_CHART_POINTS],
    );
    const series = new Map<number, TaskGpuSeries>();
    for (const row of rows) {
      let gpu = series.get(row.gpu_index);
      if (!gpu) series.set(row.gpu_index, (gpu = { index: row.gpu_index, samples: [] }));
      gpu.samples.push({
        at: row.at.toISOString(),
        utilization_pct: row.utilization_pct,
        memory_used_mb: row.memory_used_mb,
      });
    }
    return [...series.values()];
  },
};
