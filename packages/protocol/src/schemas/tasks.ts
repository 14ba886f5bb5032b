import { z } from 'zod';

import { Task } from './jobs.ts';

/** What a runner may report about a task it holds. `lost` is the server's word, never a runner's. */
export const REPORTABLE_TASK_STATUSES = ['running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;

export const TaskStatusRequest = z.strictObject({
  status: z.enum(REPORTABLE_TASK_STATUSES),
  exit_code: z.number().int().min(-2_147_483_648).max(2_147_483_647).nullable().optional(),
  error: z.string().max(4096).optional(),
});
export type TaskStatusRequest = z.input<typeof TaskStatusRequest>;

export const TaskStatusResponse = z.object({
  task: Task,
  /** Set when the user cancelled the job: stop the task and report `cancelled`. */
  cancel_requested: z.boolean(),
});
export type TaskStatusResponse = z.infer<typeof TaskStatusResponse>;
