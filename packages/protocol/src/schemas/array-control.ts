import { z } from 'zod';

import { Id } from './common.ts';
import { Job, MAX_ARRAY_SIZE, MaxParallel, TaskStatus } from './jobs.ts';
import { KeepLast, Retention } from './retention.ts';

/** `PATCH /jobs/:id`: what may change while a job runs, and how long it is kept. */
export const UpdateJobRequest = z
  .strictObject({
    /** Elements held at once from the next claim on; null lifts the limit. */
    max_parallel: MaxParallel.nullable().optional(),
    /** Keep the job until unpinned (also once it has ended). */
    pinned: z.boolean().optional(),
    /** Its retention once ended ("30d"); null: the server's default again. */
    retention: Retention.nullable().optional(),
    /** Keep the newest this many jobs of its name; null: no such rule. */
    keep_last: KeepLast.nullable().optional(),
  })
  .refine((update) => Object.keys(update).length > 0, {
    message: 'give a field to change (max_parallel, pinned, retention, keep_last)',
  });
export type UpdateJobRequest = z.input<typeof UpdateJobRequest>;

/** An element's position in its array job, from 0. */
export const ElementIndex = z
  .number()
  .int('an element index is a whole number')
  .min(0, 'element indexes start at 0')
  .max(MAX_ARRAY_SIZE - 1, `element indexes are below ${MAX_ARRAY_SIZE}`);

/** `/jobs/:id/elements/:index/…`: the index arrives as text and is read as a number. */
export const ElementParams = z.strictObject({
  id: z.guid('id must be a job id'),
  index: z
    .string()
    .regex(/^\d{1,9}$/, 'index must be an element index: a whole number from 0')
    .transform(Number)
    .pipe(ElementIndex),
});

/** The statuses of an element's latest attempt that a retry takes: it ended without succeeding. */
export const RETRYABLE_ELEMENT_STATUSES = ['failed', 'timed_out', 'lost', 'cancelled'] as const;
/** The statuses of an element's latest attempt that a cancel takes: it has not ended. */
export const CANCELLABLE_ELEMENT_STATUSES = ['blocked', 'pending', 'assigned', 'running'] as const;

/** A selection of elements: these indexes, or every element whose latest attempt has one of these statuses. */
function selection<S extends readonly [string, ...string[]]>(statuses: S) {
  return z
    .strictObject({
      indexes: z.array(ElementIndex).min(1).max(MAX_ARRAY_SIZE).optional(),
      status: z.array(z.enum(statuses)).min(1).max(statuses.length).optional(),
    })
    .refine((s) => (s.indexes === undefined) !== (s.status === undefined), {
      message: 'select elements by indexes or by status (one of the two)',
    });
}

/** `POST /jobs/:id/elements/retry`: a new attempt for each selected element that ended unsucceeded. */
export const RetryElementsRequest = selection(RETRYABLE_ELEMENT_STATUSES);
export type RetryElementsRequest = z.input<typeof RetryElementsRequest>;

/** `POST /jobs/:id/elements/cancel`: each selected element that has not ended is cancelled (or told to stop). */
export const CancelElementsRequest = selection(CANCELLABLE_ELEMENT_STATUSES);
export type CancelElementsRequest = z.input<typeof CancelElementsRequest>;

/** What an element action did: the job after it, the elements it acted on, and how many selected ones it left. */
export const ElementsChanged = z.object({
  job: Job,
  /** The indexes acted on, ascending. */
  indexes: z.array(z.number().int()),
  /** Selected elements not in a state for this action (a running one asked to retry, an ended one to cancel). */
  skipped: z.number().int(),
});
export type ElementsChanged = z.infer<typeof ElementsChanged>;

/** One element of an array job, as its latest attempt has it. */
export const JobElement = z.object({
  index: z.number().int(),
  status: TaskStatus,
  attempt: z.number().int(),
  task_id: Id,
  runner_id: Id.nullable(),
  exit_code: z.number().int().nullable(),
  cancel_requested: z.boolean(),
});
export type JobElement = z.infer<typeof JobElement>;

/** `GET /jobs/:id/elements`: every element's latest attempt, by index (the array grid's data). */
export const JobElements = z.object({
  job_id: Id,
  array_size: z.number().int(),
  max_parallel: z.number().int().nullable(),
  items: z.array(JobElement),
});
export type JobElements = z.infer<typeof JobElements>;
