import { z } from 'zod';

import { ErrorCode } from '../error-codes.ts';
import { SIGNAL_NAMES } from '../signals.ts';
import { Task, TaskStatus } from './jobs.ts';

/** What a runner may report about a task it holds. `lost` is the server's word, never a runner's. */
export const REPORTABLE_TASK_STATUSES = ['running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;

export const TaskStatusRequest = z.strictObject({
  status: z.enum(REPORTABLE_TASK_STATUSES),
  exit_code: z.number().int().min(-2_147_483_648).max(2_147_483_647).nullable().optional(),
  error: z.string().max(4096).optional(),
  /** The signal that killed the process, when one did (exit_code is then null): "SIGKILL". */
  signal: z.enum(SIGNAL_NAMES).nullable().optional(),
  /**
   * Why the solder stopped a task it reports `cancelled` without a cancel request: it was shut
   * down (`agent_stop`, the default) or out of touch with the mothership for longer than the job's
   * disconnect policy allows (`disconnected`). Either is the machine's doing, not the task's.
   */
  stopped_because: z.enum(['agent_stop', 'disconnected']).optional(),
});
export type TaskStatusRequest = z.input<typeof TaskStatusRequest>;

export const TaskStatusResponse = z.object({
  task: Task,
  /** Set when the user cancelled the job: stop the task and report `cancelled`. */
  cancel_requested: z.boolean(),
});
export type TaskStatusResponse = z.infer<typeof TaskStatusResponse>;

/**
 * The answer to a take-over (docs/job-lifecycle.md, "Cut off from the mothership"): the attempt
 * that now stands for the kept copy, held by the runner that asked and running. The solder sends
 * the copy's log, artifacts and result under its id.
 */
export const TakeOverResponse = z.object({ task: Task });
export type TakeOverResponse = z.infer<typeof TakeOverResponse>;

/** The most reports one batch may carry; a solder with more splits them. */
export const MAX_STATUS_REPORTS = 500;

/** One task's report inside a batch: the single report's fields and the task it is about. */
export const TaskStatusReport = z.strictObject({
  task_id: z.guid('task_id must be a task id'),
  ...TaskStatusRequest.shape,
});
export type TaskStatusReport = z.input<typeof TaskStatusReport>;

/**
 * Many reports of one runner's tasks in one request, applied in order. A task may appear twice:
 * `running` then its ending, for a task that ended before its `running` was sent.
 */
export const TaskStatusBatchRequest = z.strictObject({
  reports: z.array(TaskStatusReport).min(1).max(MAX_STATUS_REPORTS),
});
export type TaskStatusBatchRequest = z.input<typeof TaskStatusBatchRequest>;

/**
 * The answer to one report of a batch, in the batch's order: the task's status after the batch
 * and whether its job was cancelled, or why the report was refused (the code and message the
 * single report would have been answered with; `STALE_TASK` and the other 4xx codes mean the
 * task is no longer the runner's to report on).
 */
export const TaskStatusResult = z.union([
  z.object({ task_id: z.string(), status: TaskStatus, cancel_requested: z.boolean() }),
  z.object({ task_id: z.string(), error: z.object({ code: ErrorCode, message: z.string() }) }),
]);
export type TaskStatusResult = z.infer<typeof TaskStatusResult>;

export const TaskStatusBatchResponse = z.object({ results: z.array(TaskStatusResult) });
export type TaskStatusBatchResponse = z.infer<typeof TaskStatusBatchResponse>;
