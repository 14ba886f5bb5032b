import type { JobElement, TaskStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { TASK_COLUMNS, type TaskRow } from './task-store.ts';

/**
 * SQL for controlling array jobs: a job's max_parallel, and its elements a selection at a time.
 * Each action on a selection is one statement, however many elements it touches (a 10,000-element
 * retry is one INSERT … SELECT). Callers hold the job's row lock (JobActions.changeJob).
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

  /**
   * A new attempt (claimable now, limited like its job by the tasks_limited_retry trigger) for
   * each element whose latest attempt has one of `statuses`, among `indexes` (null: all).
   */
  async retry(
    db: Queryable,
    jobId: string,
    indexes: readonly number[] | null,
    statuses: readonly TaskStatus[],
  ): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `WITH latest AS (
         SELECT DISTINCT ON (l.index) l.index, l.attempt, l.status, l.priority, l.labels
           FROM tasks l
          WHERE l.job_id = $1 AND ($2::integer[] IS NULL OR l.index = ANY ($2::integer[]))
          ORDER BY l.index, l.attempt DESC
       )
       INSERT INTO tasks AS t (job_id, index, attempt, priority, labels)
       SELECT $1, latest.index, latest.attempt + 1, latest.priority, latest.labels
         FROM latest WHERE latest.status = ANY ($3::text[])
       RETURNING ${TASK_COLUMNS}`,
      [jobId, indexes, statuses],
    );
    return rows;
  },

  /**
   * Cancels each live element with one of `statuses` among `indexes` (null: all): one not yet
   * running (pending, blocked) at once; a held one is flagged, for its runner to stop. One
   * statement: a claim committing meanwhile is waited for and the row read again, so an element
   * claimed under it is flagged rather than missed.
   */
  async cancel(
    db: Queryable,
    jobId: string,
    indexes: readonly number[] | null,
    statuses: readonly TaskStatus[],
  ): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET
         status = CASE WHEN t.status IN ('pending', 'blocked') THEN 'cancelled' ELSE t.status END,
         reason = CASE WHEN t.status IN ('pending', 'blocked') THEN 'cancelled' ELSE t.reason END,
         completed_at = CASE WHEN t.status IN ('pending', 'blocked') THEN now() ELSE t.completed_at END,
         cancel_requested_at = coalesce(t.cancel_requested_at, now())
        WHERE t.job_id = $1 AND t.status = ANY ($3::text[])
          AND ($2::integer[] IS NULL OR t.index = ANY ($2::integer[]))
       RETURNING ${TASK_COLUMNS}`,
      [jobId, indexes, statuses],
    );
    return rows;
  },
};
