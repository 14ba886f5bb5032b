import { z } from 'zod';

import { JOB_STATUSES, TASK_STATUSES } from './jobs.ts';
import { RUNNER_STATUSES } from './runners.ts';

const counts = <T extends readonly [string, ...string[]]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<T[number], z.ZodNumber>);

export const Stats = z.object({
  jobs: counts(JOB_STATUSES).extend({ total: z.number().int() }),
  tasks: counts(TASK_STATUSES),
  runners: counts(RUNNER_STATUSES).extend({ total: z.number().int() }),
  /** Pending tasks that could be claimed now (not paused, not waiting for a retry backoff). */
  queue_depth: z.number().int(),
  /** Age in seconds of the oldest claimable task, 0 when none. */
  oldest_pending_seconds: z.number(),
});
export type Stats = z.infer<typeof Stats>;
