import type { Queryable } from '../db/database.ts';

/** SQL for a pending task's place in the queue and the recent pace of tasks like it. */
export const queuePositionStore = {
  /**
   * Pending tasks claimable now (backoff over, job not paused) that the claim walks before this
   * one (priority DESC, available_at, index, id: tasks_claim_idx's order). With `labelSets`, only
   * those whose labels some runner with one of these label sets would match; null counts them all.
   */
  async ahead(db: Queryable, taskId: string, labelSets: Array<Record<string, string>> | null): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::integer AS n
         FROM tasks me, tasks t JOIN jobs j ON j.id = t.job_id
        WHERE me.id = $1 AND t.status = 'pending' AND t.available_at <= now() AND NOT j.paused
          AND (t.priority > me.priority
               OR (t.priority = me.priority AND (t.available_at, t.index, t.id) < (me.available_at, me.index, me.id)))
          AND ($2::jsonb IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements($2::jsonb) s WHERE t.labels <@ s.value))`,
      [taskId, labelSets === null ? null : JSON.stringify(labelSets)],
    );
    return rows[0]?.n ?? 0;
  },

  /**
   * How many tasks with the same labels as this one, of jobs asking the same resources, runners
   * took in the last `seconds` (tasks_assigned_at_idx).
   */
  async assignedLike(db: Queryable, taskId: string, seconds: number): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::integer AS n
         FROM tasks me JOIN jobs mj ON mj.id = me.job_id, tasks t JOIN jobs j ON j.id = t.job_id
        WHERE me.id = $1 AND t.assigned_at > now() - make_interval(secs => $2)
          AND t.labels = me.labels AND j.resources = mj.resources`,
      [taskId, seconds],
    );
    return rows[0]?.n ?? 0;
  },

  /** The job's pending task the claim would take first; else (none pending) its latest attempt. */
  async firstOfJob(db: Queryable, jobId: string): Promise<string | null> {
    const { rows } = await db.query<{ id: string }>(
      `SELECT t.id FROM tasks t WHERE t.job_id = $1
        ORDER BY t.status <> 'pending',
                 CASE WHEN t.status = 'pending' THEN t.priority END DESC,
                 CASE WHEN t.status = 'pending' THEN t.available_at END,
                 CASE WHEN t.status = 'pending' THEN t.index END,
                 t.created_at DESC, t.id
        LIMIT 1`,
      [jobId],
    );
    return rows[0]?.id ?? null;
  },

  /** The database's clock, for reasons that name a time. */
  async now(db: Queryable): Promise<Date> {
    const { rows } = await db.query<{ now: Date }>('SELECT now() AS now');
    return rows[0]!.now;
  },
};
