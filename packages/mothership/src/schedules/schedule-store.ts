import type { ScheduleCatchUp, ScheduleOverlap, ValidCreateJobRequest } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

export interface ScheduleRow {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  job: ValidCreateJobRequest;
  overlap: ScheduleOverlap;
  catch_up: ScheduleCatchUp;
  paused: boolean;
  next_fire_at: Date | null;
  created_by_token_id: string | null;
  created_by_name: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A due schedule as a scheduler claimed it: the claim's end (exact, as text) fences its release. */
export interface ClaimedSchedule extends ScheduleRow {
  next_fire_at: Date;
  claimed_until: string;
  /** The database's clock when it was claimed. */
  db_now: Date;
}

/** The fields a change sets, all of them (the service merges the request into the row). */
export type ScheduleFields = Pick<
  ScheduleRow,
  'name' | 'cron' | 'timezone' | 'job' | 'overlap' | 'catch_up' | 'paused' | 'next_fire_at'
>;

const COLUMNS = `s.id, s.name, s.cron, s.timezone, s.job, s.overlap, s.catch_up, s.paused, s.next_fire_at,
  s.created_by_token_id, s.created_by_name, s.created_at, s.updated_at`;

/** SQL for schedules. Their fires are in schedule-fire-store.ts. */
export const scheduleStore = {
  async insert(
    db: Queryable,
    fields: ScheduleFields,
    createdBy: { tokenId: string; name: string },
  ): Promise<ScheduleRow> {
    const { rows } = await db.query<ScheduleRow>(
      `INSERT INTO schedules AS s (name, cron, timezone, job, overlap, catch_up, paused, next_fire_at,
                                   created_by_token_id, created_by_name)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10)
       RETURNING ${COLUMNS}`,
      [
        fields.name,
        fields.cron,
        fields.timezone,
        JSON.stringify(fields.job),
        fields.overlap,
        fields.catch_up,
        fields.paused,
        fields.next_fire_at,
        createdBy.tokenId,
        createdBy.name,
      ],
    );
    return rows[0]!;
  },

  async get(db: Queryable, id: string, options: { lock?: boolean } = {}): Promise<ScheduleRow | null> {
    const { rows } = await db.query<ScheduleRow>(
      `SELECT ${COLUMNS} FROM schedules s WHERE s.id = $1 ${options.lock ? 'FOR NO KEY UPDATE' : ''}`,
      [id],
    );
    return rows[0] ?? null;
  },

  /** By name (then id), after a cursor. */
  async list(db: Queryable, filter: { limit: number; after?: { name: string; id: string } }): Promise<ScheduleRow[]> {
    const { rows } = await db.query<ScheduleRow>(
      `SELECT ${COLUMNS} FROM schedules s
        WHERE $2::text IS NULL OR (s.name, s.id) > ($2::text, $3::uuid)
        ORDER BY s.name, s.id LIMIT $1`,
      [filter.limit, filter.after?.name ?? null, filter.after?.id ?? null],
    );
    return rows;
  },

  /**
   * Sets every field. A change of the next fire (cron, time zone, pause, resume) also ends a
   * scheduler's claim, whose release then no longer matches: that scheduler's plan was made
   * for the old next fire.
   */
  async update(db: Queryable, id: string, fields: ScheduleFields): Promise<ScheduleRow | null> {
    const { rows } = await db.query<ScheduleRow>(
      `UPDATE schedules s SET name = $2, cron = $3, timezone = $4, job = $5::jsonb, overlap = $6, catch_up = $7,
              paused = $8,
              claimed_until = CASE WHEN s.next_fire_at IS NOT DISTINCT FROM $9 THEN s.claimed_until END,
              next_fire_at = $9, updated_at = now()
        WHERE s.id = $1
       RETURNING ${COLUMNS}`,
      [
        id,
        fields.name,
        fields.cron,
        fields.timezone,
        JSON.stringify(fields.job),
        fields.overlap,
        fields.catch_up,
        fields.paused,
        fields.next_fire_at,
      ],
    );
    return rows[0] ?? null;
  },

  async delete(db: Queryable, id: string): Promise<ScheduleRow | null> {
    const { rows } = await db.query<ScheduleRow>(`DELETE FROM schedules s WHERE s.id = $1 RETURNING ${COLUMNS}`, [id]);
    return rows[0] ?? null;
  },

  /**
   * Claims up to `limit` due schedules for `leaseSeconds`: their next fire has come and no other
   * scheduler holds them (or its claim ran out: it died). SKIP LOCKED lets replicas claiming at
   * the same moment take different schedules instead of queueing behind one another; a slot
   * fired twice anyway (a claim that ran out while its holder was still firing) still makes one
   * job, by the jobs' unique key.
   */
  async claimDue(db: Queryable, limit: number, leaseSeconds: number): Promise<ClaimedSchedule[]> {
    const { rows } = await db.query<ClaimedSchedule>(
      `UPDATE schedules s SET claimed_until = now() + make_interval(secs => $2)
         FROM (SELECT id FROM schedules
                WHERE next_fire_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
                ORDER BY next_fire_at LIMIT $1
                FOR NO KEY UPDATE SKIP LOCKED) due
        WHERE s.id = due.id
       RETURNING ${COLUMNS}, s.claimed_until::text AS claimed_until, now() AS db_now`,
      [limit, leaseSeconds],
    );
    return rows;
  },

  /**
   * Ends a claim, moving the next fire on. Only the claim's holder does, and only while its claim
   * stands (no change of the schedule ended it since): false when it did not.
   */
  async release(db: Queryable, claim: ClaimedSchedule, next: Date | null): Promise<boolean> {
    const { rowCount } = await db.query(
      `UPDATE schedules SET next_fire_at = $3, claimed_until = NULL
        WHERE id = $1 AND claimed_until = $2::timestamptz`,
      [claim.id, claim.claimed_until, next],
    );
    return rowCount === 1;
  },

  /**
   * Milliseconds from now (the database's clock) to the earliest moment a schedule may be
   * claimed: its next fire, or the end of another scheduler's claim on it. Null: none will be.
   */
  async msUntilNextDue(db: Queryable): Promise<number | null> {
    const { rows } = await db.query<{ ms: number | null }>(
      `SELECT (EXTRACT(EPOCH FROM min(GREATEST(next_fire_at, claimed_until)) - now()) * 1000)::float8 AS ms
         FROM schedules WHERE next_fire_at IS NOT NULL`,
    );
    return rows[0]?.ms ?? null;
  },

  /**
   * Runs `fn` inside the transaction `tx` and then undoes what it wrote (back to a savepoint), its
   * error or none: a dry run of a write, for its checks.
   */
  async dryRun(tx: Queryable, fn: () => Promise<unknown>): Promise<void> {
    await tx.query('SAVEPOINT dry_run');
    try {
      await fn();
    } finally {
      await tx.query('ROLLBACK TO SAVEPOINT dry_run');
    }
  },

  /** The database's clock, to the millisecond (a manual trigger's slot). */
  async now(db: Queryable): Promise<Date> {
    const { rows } = await db.query<{ now: Date }>("SELECT date_trunc('milliseconds', now()) AS now");
    return rows[0]!.now;
  },

  /** Ids from `low` to `high` (an id prefix's range, see id-resolver.ts) with names, in id order. */
  async idsBetween(db: Queryable, low: string, high: string, limit: number): Promise<{ id: string; name: string }[]> {
    const { rows } = await db.query<{ id: string; name: string }>(
      'SELECT id, name FROM schedules WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3',
      [low, high, limit],
    );
    return rows;
  },
};
