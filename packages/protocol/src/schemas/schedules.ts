import { z } from 'zod';

import type { QueryInput, Role } from '../route-definition.ts';
import { Id, page, Timestamp } from './common.ts';
import { CreateJobRequest, JobStatus } from './jobs.ts';

/**
 * The role that may change or delete any schedule. Below it, an operator changes only the
 * schedules it created: a schedule submits jobs on its creator's behalf for as long as it lives.
 */
export const ROLE_TO_CHANGE_ANY_SCHEDULE: Role = 'admin';

/** What a fire does while an earlier job of the same schedule has not ended. */
export const SCHEDULE_OVERLAPS = ['skip', 'allow', 'cancel_running'] as const;
export const ScheduleOverlap = z.enum(SCHEDULE_OVERLAPS);
export type ScheduleOverlap = z.infer<typeof ScheduleOverlap>;

/** Slots missed while no mothership was running: fire none of them, or once for the latest. */
export const SCHEDULE_CATCH_UPS = ['none', 'last'] as const;
export const ScheduleCatchUp = z.enum(SCHEDULE_CATCH_UPS);
export type ScheduleCatchUp = z.infer<typeof ScheduleCatchUp>;

/** How a fire was asked for: by the cron, or by `POST /schedules/:id/trigger`. */
export const ScheduleFireTrigger = z.enum(['cron', 'manual']);
export type ScheduleFireTrigger = z.infer<typeof ScheduleFireTrigger>;

/** `created`: its job exists; `skipped`: on purpose (overlap, missed slots); `failed`: the job could not be created. */
export const SCHEDULE_FIRE_OUTCOMES = ['created', 'skipped', 'failed'] as const;
export const ScheduleFireOutcome = z.enum(SCHEDULE_FIRE_OUTCOMES);
export type ScheduleFireOutcome = z.infer<typeof ScheduleFireOutcome>;

/** How many of its latest fires a schedule shows. */
export const SCHEDULE_RECENT_FIRES = 10;

/**
 * A cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds
 * first, or a nickname (`@daily`). Its syntax is checked by the mothership (croner) at submit.
 */
const Cron = z.string().trim().min(1, 'cron is empty').max(200);
/** An IANA time zone name (`Europe/Berlin`, `UTC`); checked by the mothership at submit. */
const TimeZone = z.string().trim().min(1).max(64);

export const CreateScheduleRequest = z.strictObject({
  name: z.string().trim().min(1).max(200),
  cron: Cron,
  timezone: TimeZone.default('UTC'),
  /** The job each fire submits: the body of `POST /jobs`, validated by the same rules. */
  job: CreateJobRequest,
  overlap: ScheduleOverlap.default('skip'),
  catch_up: ScheduleCatchUp.default('none'),
  /** Created paused: it fires only once resumed (or triggered by hand). */
  paused: z.boolean().default(false),
});
export type CreateScheduleRequest = z.input<typeof CreateScheduleRequest>;
export type ValidCreateScheduleRequest = z.output<typeof CreateScheduleRequest>;

/** Any field of a schedule; `paused` pauses and resumes it. `job` replaces the whole job spec. */
export const UpdateScheduleRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    cron: Cron.optional(),
    timezone: TimeZone.optional(),
    job: CreateJobRequest.optional(),
    overlap: ScheduleOverlap.optional(),
    catch_up: ScheduleCatchUp.optional(),
    paused: z.boolean().optional(),
  })
  .refine((update) => Object.values(update).some((value) => value !== undefined), 'name at least one field to change');
export type UpdateScheduleRequest = z.input<typeof UpdateScheduleRequest>;
export type ValidUpdateScheduleRequest = z.output<typeof UpdateScheduleRequest>;

/** One fire of a schedule: the slot it was for, and what became of it. */
export const ScheduleFire = z.object({
  /** The cron slot (or, for a manual trigger, the moment of the call). */
  scheduled_for: Timestamp,
  fired_at: Timestamp,
  trigger: ScheduleFireTrigger,
  outcome: ScheduleFireOutcome,
  /** The job it created (null when skipped or failed, or once the job is deleted). */
  job_id: Id.nullable(),
  job_status: JobStatus.nullable(),
  /** Seconds from `scheduled_for` to the job's creation. */
  lateness_seconds: z.number().nullable(),
  /** Why it was skipped or failed. */
  reason: z.string().nullable(),
});
export type ScheduleFire = z.infer<typeof ScheduleFire>;

export const Schedule = z.object({
  id: Id,
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  job: CreateJobRequest,
  overlap: ScheduleOverlap,
  catch_up: ScheduleCatchUp,
  paused: z.boolean(),
  /** The next slot it will fire for; null while paused, or when the cron has no slot left. */
  next_fire_at: Timestamp.nullable(),
  /** The token that created it (its jobs are submitted as that token), and its name then. */
  created_by: z.object({ token_id: Id.nullable(), name: z.string() }).nullable(),
  created_at: Timestamp,
  updated_at: Timestamp,
  /** Its latest fires, newest first (at most SCHEDULE_RECENT_FIRES). */
  last_fires: z.array(ScheduleFire),
});
export type Schedule = z.infer<typeof Schedule>;

export const SchedulePage = page(Schedule);
export type SchedulePage = z.infer<typeof SchedulePage>;

export const ListSchedulesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
});
export type ListSchedulesQuery = QueryInput<typeof ListSchedulesQuery>;
