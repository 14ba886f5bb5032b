import { z } from 'zod';

import { SIGNAL_NAMES } from '../signals.ts';
import { Task } from './jobs.ts';

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
