import type { TaskStatus } from '@borg/protocol';

/**
 * The task state machine, in one place. A task row is one attempt:
 *
 *   pending ─claim─▶ assigned ─▶ running ─▶ succeeded | failed | cancelled | timed_out | lost
 *      │                 └──────────────▶ failed | cancelled | timed_out | lost
 *      └─cancel─▶ cancelled
 *
 *   blocked ─dependencies met─▶ pending;  blocked ─▶ skipped (a dependency unmet) | cancelled
 *
 * Terminal states never change again (invariant I4); a retry is a new row.
 * `assigned → succeeded` is refused: a task cannot succeed without having started.
 * `assigned → pending` is the server's alone: it releases a claim whose answer never reached
 * the runner (it hung up mid-claim, or its heartbeat shows it never got the task).
 */
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  blocked: ['pending', 'skipped', 'cancelled'],
  pending: ['assigned', 'cancelled'],
  assigned: ['running', 'failed', 'cancelled', 'timed_out', 'lost', 'pending'],
  running: ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'],
  succeeded: [],
  failed: [],
  cancelled: [],
  timed_out: [],
  lost: [],
  skipped: [],
};

export const LIVE_TASK_STATUSES = ['pending', 'assigned', 'running'] as const satisfies readonly TaskStatus[];
export const HELD_TASK_STATUSES = ['assigned', 'running'] as const satisfies readonly TaskStatus[];

export function isTerminal(status: TaskStatus): boolean {
  return TASK_TRANSITIONS[status].length === 0;
}

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

/** Endings that are the task's failure (or its runner's) and so may earn another attempt. */
export function isRetryableEnding(status: TaskStatus, cancelRequested: boolean): boolean {
  if (status === 'cancelled') return !cancelRequested; // stopped by its runner (agent shutdown), not by a user
  return status === 'failed' || status === 'timed_out' || status === 'lost';
}

/** Reasons the server records when it ends an attempt itself; a runner's later writes are refused. */
export const SERVER_REASONS = [
  'runner_lost',
  'runner_restarted',
  'runner_deleted',
  'server_timeout',
  // the copy of a lost attempt that kept running (on_disconnect keep) succeeded first: see Queue.takeOver
  'superseded',
] as const;
export type ServerReason = (typeof SERVER_REASONS)[number];
