import type { Job } from '@borg/protocol';

import { api, errorMessage } from '../../lib/api.ts';

export const JOB_ACTIONS = ['cancel', 'pause', 'resume', 'retry', 'delete'] as const;
export type JobAction = (typeof JOB_ACTIONS)[number];

/** One job action through the typed client. */
export function runJobAction(action: JobAction, id: string): Promise<Job> {
  const client = api();
  switch (action) {
    case 'cancel':
      return client.cancelJob(id);
    case 'pause':
      return client.pauseJob(id);
    case 'resume':
      return client.resumeJob(id);
    case 'retry':
      return client.retryJob(id);
    case 'delete':
      return client.deleteJob(id);
  }
}

export interface BulkResult {
  done: Job[];
  refused: Array<{ id: string; message: string }>;
}

/**
 * Applies an action to every selected job, a few at a time (the API has one route per job;
 * four in flight keeps a 500-job selection quick without flooding the server). A refusal (a
 * finished job cannot be paused) is collected, not thrown, so the rest still go through.
 */
export async function runBulk(
  action: JobAction,
  ids: readonly string[],
  run: (action: JobAction, id: string) => Promise<Job> = runJobAction,
): Promise<BulkResult> {
  const result: BulkResult = { done: [], refused: [] };
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        result.done.push(await run(action, id));
      } catch (e) {
        result.refused.push({ id, message: errorMessage(e) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, ids.length) }, worker));
  return result;
}

const PAST: Record<JobAction, string> = {
  cancel: 'cancelled',
  pause: 'paused',
  resume: 'resumed',
  retry: 'retried',
  delete: 'deleted',
};

/** Actions that cannot be undone ask first. */
export function confirmAction(action: JobAction, count: number): boolean {
  if (action !== 'delete') return true;
  const what = count === 1 ? 'this job' : `${count} jobs`;
  return window.confirm(`Delete ${what} with every attempt, log and artifact? This cannot be undone.`);
}

export function describeBulk(action: JobAction, result: BulkResult): string {
  const parts = [`${result.done.length} ${PAST[action]}`];
  if (result.refused.length > 0) {
    parts.push(`${result.refused.length} refused (${result.refused[0]!.message})`);
  }
  return parts.join(', ');
}
