import type { JobStatus, ScheduleFire, ScheduleFireOutcome, ScheduleFireTrigger } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

/** How many fires a schedule keeps; older ones are pruned as new ones come. */
export const FIRES_KEPT = 100;

export interface NewFire {
  scheduleId: string;
  scheduledFor: Date;
  trigger: ScheduleFireTrigger;
  outcome: ScheduleFireOutcome;
  jobId: string | null;
  reason: string | null;
}

interface FireRow {
  schedule_id: string;
  scheduled_for: Date;
  fired_at: Date;
  trigger: ScheduleFireTrigger;
  outcome: ScheduleFireOutcome;
  job_id: string | null;
  job_status: JobStatus | null;
  lateness_seconds: number | null;
  reason: string | null;
}

function toFire(row: FireRow): ScheduleFire {
  return {
    scheduled_for: row.scheduled_for.toISOString(),
    fired_at: row.fired_at.toISOString(),
    trigger: row.trigger,
    outcome: row.outcome,
    job_id: row.job_id,
    job_status: row.job_status,
    lateness_seconds: row.lateness_seconds,
    reason: row.reason,
  };
}

/** SQL for the record of fires, and the schedules' view of the jobs they submitted. */
export const scheduleFireStore = {
  /**
   * Records what became of a slot. A slot fired twice (two schedulers, the second after the
   * first's claim ran out) keeps the record with a job: a created job is never overwritten by
   * the other's skip or failure.
   */
  async record(db: Queryable, fire: NewFire): Promise<void> {
    await db.query(
      `INSERT INTO schedule_fires AS f (schedule_id, scheduled_for, trigger, outcome, job_id, reason)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (schedule_id, scheduled_for) DO UPDATE
         SET outcome = EXCLUDED.outcome, job_id = EXCLUDED.job_id, reason = EXCLUDED.reason, fired_at = now()
         WHERE f.job_id IS NULL`,
      [fire.scheduleId, fire.scheduledFor, fire.trigger, fire.outcome, fire.jobId, fire.reason],
    );
  },

  /** Drops a schedule's fires older than its latest FIRES_KEPT. */
  async prune(db: Queryable, scheduleId: string): Promise<void> {
    await db.query(
      `DELETE FROM schedule_fires
        WHERE schedule_id = $1
          AND scheduled_for < (SELECT scheduled_for FROM schedule_fires WHERE schedule_id = $1
                                ORDER BY scheduled_for DESC OFFSET $2 LIMIT 1)`,
      [scheduleId, FIRES_KEPT - 1],
    );
  },

  /** The latest `limit` fires of each schedule, newest first, with their jobs' status and lateness. */
  async recentOf(db: Queryable, scheduleIds: readonly string[], limit: number): Promise<Map<string, ScheduleFire[]>> {
    const bySchedule = new Map<string, ScheduleFire[]>();
    if (scheduleIds.length === 0) return bySchedule;
    const { rows } = await db.query<FireRow>(
      `SELECT f.schedule_id, f.scheduled_for, f.fired_at, f.trigger, f.outcome, f.job_id, j.status AS job_status,
              (EXTRACT(EPOCH FROM j.created_at - f.scheduled_for))::float8 AS lateness_seconds, f.reason
         FROM unnest($1::uuid[]) AS s(id)
        CROSS JOIN LATERAL (SELECT * FROM schedule_fires WHERE schedule_id = s.id
                             ORDER BY scheduled_for DESC LIMIT $2) f
         LEFT JOIN jobs j ON j.id = f.job_id
        ORDER BY f.schedule_id, f.scheduled_for DESC`,
      [scheduleIds, limit],
    );
    for (const row of rows) {
      const list = bySchedule.get(row.schedule_id) ?? [];
      list.push(toFire(row));
      bySchedule.set(row.schedule_id, list);
    }
    return bySchedule;
  },

  /** A schedule's jobs that have not ended, oldest slot first (overlap: skip and cancel_running). */
  async unendedJobs(db: Queryable, scheduleId: string): Promise<{ id: string; scheduled_for: Date }[]> {
    const { rows } = await db.query<{ id: string; scheduled_for: Date }>(
      `SELECT id, scheduled_for FROM jobs
        WHERE schedule_id = $1 AND completed_at IS NULL ORDER BY scheduled_for LIMIT 100`,
      [scheduleId],
    );
    return rows;
  },

  /**
   * For each schedule (at most `limit`), how late its latest cron fire's job was created:
   * seconds from the slot to the job's creation (the /metrics gauge).
   */
  async lastLateness(db: Queryable, limit: number): Promise<{ id: string; name: string; seconds: number }[]> {
    const { rows } = await db.query<{ id: string; name: string; seconds: number }>(
      `SELECT s.id, s.name, last.seconds
         FROM schedules s
        CROSS JOIN LATERAL (
          SELECT (EXTRACT(EPOCH FROM j.created_at - f.scheduled_for))::float8 AS seconds
            FROM schedule_fires f JOIN jobs j ON j.id = f.job_id
           WHERE f.schedule_id = s.id AND f.trigger = 'cron' AND f.outcome = 'created'
           ORDER BY f.scheduled_for DESC LIMIT 1) last
        ORDER BY s.name, s.id LIMIT $1`,
      [limit],
    );
    return rows;
  },
};
