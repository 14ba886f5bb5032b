import {
  type Job,
  type ListSchedulesQuery,
  ROLE_TO_CHANGE_ANY_SCHEDULE,
  roleAtLeast,
  type Schedule,
  SCHEDULE_RECENT_FIRES,
  type SchedulePage,
  type ValidCreateJobRequest,
  type ValidCreateScheduleRequest,
  type ValidUpdateScheduleRequest,
} from '@borg/protocol';
import type { z } from 'zod';

import type { Principal } from '../auth/principal.ts';
import type { Database, Queryable } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
import { insertJob } from '../jobs/job-insert.ts';
import { judgeSatisfiability, placementDemandOf } from '../jobs/satisfiability.ts';
import { keysetPage } from '../paging.ts';
import { canonicalTimeZone, CronSchedule } from './cron-schedule.ts';
import { scheduleFireStore } from './schedule-fire-store.ts';
import type { ScheduleFirer } from './schedule-firer.ts';
import { type ScheduleFields, type ScheduleRow, scheduleStore } from './schedule-store.ts';

type ListQuery = z.output<typeof ListSchedulesQuery>;

/**
 * What people do with schedules: create, list, read, change (pause and resume too), delete and
 * fire by hand. The cron and time zone are checked here (croner), the job spec by the same rules
 * as a submit; each change wakes the schedulers of every replica.
 */
export class ScheduleService {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly firer: ScheduleFirer,
  ) {}

  async create(input: ValidCreateScheduleRequest, creator: Principal): Promise<Schedule> {
    const row = await this.db.transaction(async (tx) => {
      const fields = await checked(tx, { ...input, next_fire_at: null }, { submitter: creator, checkJob: true });
      return scheduleStore.insert(tx, fields, { tokenId: creator.tokenId, name: creator.name });
    });
    this.changed(row.id);
    return this.view(row);
  }

  list(query: ListQuery): Promise<SchedulePage> {
    return keysetPage(
      query,
      2,
      (limit, after) =>
        scheduleStore.list(this.db, { limit, after: after ? { name: after[0]!, id: after[1]! } : undefined }),
      (row) => [row.name, row.id],
      (rows) => this.views(rows),
    );
  }

  async get(id: string): Promise<Schedule> {
    return this.view(await this.row(id));
  }

  /**
   * Changes the fields given. A new cron or time zone, and a resume, start again from the next
   * slot after now: slots that passed while paused are not caught up.
   */
  async update(id: string, change: ValidUpdateScheduleRequest, actor: Principal): Promise<Schedule> {
    const row = await this.db.transaction(async (tx) => {
      const current = await scheduleStore.get(tx, id, { lock: true });
      if (!current) throw scheduleNotFound(id);
      assertMayChange(actor, current);
      const merged = {
        name: change.name ?? current.name,
        cron: change.cron ?? current.cron,
        timezone: change.timezone ?? current.timezone,
        job: change.job ?? current.job,
        overlap: change.overlap ?? current.overlap,
        catch_up: change.catch_up ?? current.catch_up,
        paused: change.paused ?? current.paused,
      };
      const restarts =
        merged.cron !== current.cron || merged.timezone !== current.timezone || merged.paused !== current.paused;
      // The job spec is checked when it is what changes: pausing a schedule whose secret is gone works.
      const fields = await checked(
        tx,
        { ...merged, next_fire_at: restarts ? null : current.next_fire_at },
        {
          submitter: actor,
          checkJob: change.job !== undefined,
        },
      );
      return (await scheduleStore.update(tx, id, fields))!;
    });
    this.changed(id);
    return this.view(row);
  }

  async remove(id: string, actor: Principal): Promise<Schedule> {
    const row = await this.db.transaction(async (tx) => {
      const current = await scheduleStore.get(tx, id, { lock: true });
      if (!current) throw scheduleNotFound(id);
      assertMayChange(actor, current);
      return (await scheduleStore.delete(tx, id))!;
    });
    this.changed(id);
    return { ...(await this.view(row)), last_fires: [] };
  }

  /**
   * Fires once now, whatever the cron, a pause or overlap say, and returns the job. A job that
   * cannot be created is refused as a submit would be (and recorded as a failed fire).
   */
  async trigger(id: string, actor: Principal): Promise<Job> {
    const schedule = await this.row(id);
    assertMayChange(actor, schedule);
    const result = await this.firer.fire(schedule, await scheduleStore.now(this.db), 'manual');
    this.changed(id);
    if (result.outcome === 'created') return result.job;
    throw result.error ?? new BorgError('CONFLICT', result.reason);
  }

  private async row(id: string): Promise<ScheduleRow> {
    const row = await scheduleStore.get(this.db, id);
    if (!row) throw scheduleNotFound(id);
    return row;
  }

  private changed(id: string): void {
    this.bus.publish({ type: 'schedules.changed', schedule_id: id });
  }

  private async view(row: ScheduleRow): Promise<Schedule> {
    return (await this.views([row]))[0]!;
  }

  private async views(rows: readonly ScheduleRow[]): Promise<Schedule[]> {
    const fires = await scheduleFireStore.recentOf(
      this.db,
      rows.map((r) => r.id),
      SCHEDULE_RECENT_FIRES,
    );
    return rows.map((row) => toSchedule(row, fires.get(row.id) ?? []));
  }
}

/**
 * The fields to store, checked: the cron and time zone by croner, the job spec by the rules of
 * a submit (files and secrets exist, some runner could take it when it asks to be refused
 * otherwise). A running schedule gets its next fire (kept when given, else the next slot).
 */
async function checked(
  tx: Queryable,
  fields: ScheduleFields,
  options: { submitter: Principal; checkJob: boolean },
): Promise<ScheduleFields> {
  const timezone = canonicalTimeZone(fields.timezone);
  const cron = CronSchedule.parse(fields.cron, timezone);
  if (options.checkJob) await checkJob(tx, fields.job, options.submitter);
  const next = fields.paused ? null : (fields.next_fire_at ?? cron.nextAfter(await scheduleStore.now(tx)));
  return { ...fields, timezone, next_fire_at: next };
}

/**
 * What a submit of the job now would refuse: no runner could take it (with `unsatisfiable:
 * reject`), and what it refers to (files, secrets, upstream jobs), checked by the submit's own
 * insert, then rolled back to a savepoint, so the rules cannot drift apart. Each
 * fire checks again: a secret deleted since makes that fire fail.
 */
async function checkJob(tx: Queryable, job: ValidCreateJobRequest, submitter: Principal): Promise<void> {
  try {
    const { unsatisfiable } = await judgeSatisfiability(tx, placementDemandOf(job), job.unsatisfiable);
    await scheduleStore.dryRun(tx, () => insertJob(tx, job, { unsatisfiable, submitter }));
  } catch (error) {
    if (error instanceof BorgError) throw prefixed(error, 'job');
    throw error;
  }
}

function toSchedule(row: ScheduleRow, lastFires: Schedule['last_fires']): Schedule {
  return {
    id: row.id,
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    job: row.job,
    overlap: row.overlap,
    catch_up: row.catch_up,
    paused: row.paused,
    next_fire_at: row.next_fire_at?.toISOString() ?? null,
    created_by: row.created_by_name === null ? null : { token_id: row.created_by_token_id, name: row.created_by_name },
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_fires: lastFires,
  };
}

function scheduleNotFound(id: string): BorgError {
  return new BorgError('SCHEDULE_NOT_FOUND', `schedule ${id} does not exist`);
}

/** Only the schedule's creator, or a token of ROLE_TO_CHANGE_ANY_SCHEDULE, may change it. */
function assertMayChange(actor: Principal, schedule: ScheduleRow): void {
  if (roleAtLeast(actor.role ?? 'viewer', ROLE_TO_CHANGE_ANY_SCHEDULE)) return;
  if (schedule.created_by_token_id !== null && schedule.created_by_token_id === actor.tokenId) return;
  const owner = schedule.created_by_name === null ? 'another token' : `"${schedule.created_by_name}"`;
  const held = actor.role ?? actor.kind;
  throw new BorgError(
    'FORBIDDEN',
    `${/^[aeiou]/.test(held) ? 'an' : 'a'} ${held} token may change only the schedules it created; schedule ${schedule.id} was created by ${owner} (the ${ROLE_TO_CHANGE_ANY_SCHEDULE} role may change any schedule)`,
  );
}

/** The job spec's error, its message and field named as parts of the schedule's `job`. */
function prefixed(error: BorgError, field: string): BorgError {
  const details = error.details as { field?: unknown } | undefined;
  const inner = typeof details?.field === 'string' ? `${field}.${details.field}` : field;
  return new BorgError(error.code, `${field}: ${error.message}`, { ...(details ?? {}), field: inner });
}
