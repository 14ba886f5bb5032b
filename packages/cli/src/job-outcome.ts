import type { JobWithTasks, Task, TaskStatus } from '@borg/protocol';

const TERMINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'lost',
  'skipped',
]);

export function isTaskFinished(task: Pick<Task, 'status'>): boolean {
  return TERMINAL_TASK_STATUSES.has(task.status);
}

/** The newest attempt of each element, in element order: what the job's outcome is made of. */
export function latestAttempts(job: Pick<JobWithTasks, 'tasks'>): Task[] {
  const latest = new Map<number, Task>();
  for (const task of job.tasks) {
    const seen = latest.get(task.index);
    if (!seen || task.attempt > seen.attempt) latest.set(task.index, task);
  }
  return [...latest.values()].sort((a, b) => a.index - b.index);
}

/**
 * The exit code `borg submit --follow` (and `borg jobs show --watch`) ends with, so that
 * `borg submit --follow -- make test` can stand in for `make test` in a script:
 * - 0 when the job succeeded;
 * - the exit code of the first failed element (lowest index) when it exited with one (1–255);
 * - 1 otherwise (cancelled, timed out, lost, killed by a signal, or a failure with exit code 0).
 */
export function jobExitCode(job: JobWithTasks): number {
  if (job.status === 'succeeded') return 0;
  for (const task of latestAttempts(job)) {
    if (task.status === 'succeeded') continue;
    const code = task.exit_code;
    if (code !== null && code >= 1 && code <= 255) return code;
  }
  return 1;
}
