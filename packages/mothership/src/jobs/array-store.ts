import type { JobElement, TaskStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

/**
 * SQL for controlling array jobs: a job's max_parallel, and its elements' latest attempts (the
 * retry and cancel of a selection are task-store's, one statement each). Writers hold the job's
 * row lock (JobActions.changeJob).
 */
export const arrayStore = {
  /** Every element's latest attempt, by index (tasks_attempt_key walks them in order). */
  async latest(db: Queryable, jobId: string): Promise<JobElement[]> {
    const { rows } = await db.query<JobElement>(
      `SELECT DISTINCT ON (t.index) t.index, t.status, t.attempt, t.id AS task_id, t.runner_id, t.exit_code,
              t.cancel_requested_at IS NOT NULL AS cancel_requested
         FROM tasks t WHERE t.job_id = $1 ORDER BY t.index, t.attempt DESC`,
      [jobId],
    );
    return rows;
  },

  /** How many of a limited job's elements are held (tasks_limited_held_idx). */
  async heldOf(db: Queryable, jobId: string): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running') AND limited`,
      [jobId],
    );
    return rows[0]!.n;
  },

  /** The status of one element's latest attempt. */
  async statusOf(db: Queryable, jobId: string, index: number): Promise<TaskStatus | null> {
    const { rows } = await db.query<{ status: TaskStatus }>(
      'SELECT status FROM tasks WHERE job_id = $1 AND index = $2 ORDER BY attempt DESC LIMIT 1',
      [jobId, index],
    );
    return rows[0]?.status ?? null;
  },

  /**
   * Sets the job's limit. When it comes or goes, its live tasks are flagged to match in the same
   * transaction (the claim reaches a limited job's tasks only through its room, migration 0017).
   */
  async setMaxParallel(db: Queryable, jobId: string, maxParallel: number | null): Promise<void> {
    await db.query(
      `WITH job AS (
         UPDATE jobs SET max_parallel = $2, updated_at = now() WHERE id = $1
       )
       UPDATE tasks SET limited = $2::integer IS NOT NULL
        WHERE job_id = $1 AND status IN ('blocked', 'pending', 'assigned', 'running')
          AND limited <> ($2::integer IS NOT NULL)`,
      [jobId, maxParallel],
    );
  },
};
