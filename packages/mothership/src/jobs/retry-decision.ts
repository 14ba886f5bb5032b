import {
  type JobRetry,
  MAX_LOST_RETRIES,
  type RetryDecision,
  type RetryRuleName,
  type TaskStatus,
} from '@borg/protocol';

import { isRetryableEnding } from './task-states.ts';

/** What the decision needs of the job: its attempts, and its rules (null: only max_attempts). */
export interface RetryJob {
  max_attempts: number;
  retry: JobRetry | null;
}

/** One attempt's ending as the rules read it. */
export interface AttemptEnding {
  attempt: number;
  status: TaskStatus;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  /** A user asked to cancel the task or its job: its `cancelled` is theirs, not the machine's. */
  cancelRequested: boolean;
}

/** How an attempt failed, as far as retrying goes; null when it did not (a success, a user's cancel). */
export type Failure =
  | { kind: 'exit_code'; exitCode: number }
  | { kind: 'signal'; signal: string }
  | { kind: 'error' }
  | { kind: 'timeout' }
  /** Lost with its runner, or stopped by its solder (shut down, cut off): the machine's doing. */
  | { kind: 'lost'; reason: string | null };

export function failureOf(ending: AttemptEnding): Failure | null {
  if (!isRetryableEnding(ending.status, ending.cancelRequested)) return null;
  if (ending.status === 'lost' || ending.status === 'cancelled') return { kind: 'lost', reason: ending.reason };
  if (ending.status === 'timed_out') return { kind: 'timeout' };
  if (ending.signal) return { kind: 'signal', signal: ending.signal };
  if (ending.exitCode !== null) return { kind: 'exit_code', exitCode: ending.exitCode };
  return { kind: 'error' };
}

/**
 * THE retry rule, in one place: whether the attempt that just ended gets another, and why, given
 * the job's rules and the element's earlier attempts (`history`, in any order). Null when there
 * is nothing to decide or to say: a success, a cancel a user asked for, or a failure of a job
 * with one attempt and no rules.
 *
 * - A job without `retry` keeps the old rule: any failure (lost and timed out included) retries
 *   while the attempt's number is below max_attempts; every attempt counts.
 * - With `retry`: `on_exit_codes` / `on_signals` (when either is given, only what they list
 *   retries; else any failure does), `on_lost`, `on_timeout`. A lost attempt does not use up one
 *   of max_attempts unless `lost_counts`; then at most MAX_LOST_RETRIES lost attempts are retried,
 *   so a task that kills its machine cannot loop for ever.
 */
export function retryDecision(
  job: RetryJob,
  ending: AttemptEnding,
  history: readonly AttemptEnding[],
): RetryDecision | null {
  const failure = failureOf(ending);
  if (!failure) return null;
  const rules = job.retry;
  const max = job.max_attempts;
  if (!rules) {
    if (max === 1) return null;
    const what = describe(failure);
    return ending.attempt < max
      ? decision(true, 'any_failure', true, `${what}: any failure retries (${ending.attempt} of ${max} attempts used)`)
      : decision(false, 'max_attempts', true, `${what}, and all ${max} attempts are used`);
  }

  const counted = failure.kind !== 'lost' || rules.lost_counts;
  const match = matchRule(rules, failure);
  if (!match.retries) return decision(false, match.rule, counted, match.message);

  if (failure.kind === 'lost' && !rules.lost_counts) {
    const lost = history.filter((h) => failureOf(h)?.kind === 'lost').length + 1;
    if (lost > MAX_LOST_RETRIES) {
      return decision(
        false,
        'lost_limit',
        false,
        `lost ${lost} times (this time ${describe(failure)}): a lost element is retried at most ${MAX_LOST_RETRIES} times`,
      );
    }
  }
  const used = history.filter((h) => countsAgainst(h, rules)).length + (counted ? 1 : 0);
  if (used >= max)
    return decision(false, 'max_attempts', counted, `${match.message}, but all ${max} attempts are used`);
  const tally = counted ? `${used} of ${max} attempts used` : 'not counted against max_attempts';
  return decision(true, match.rule, counted, `${match.message} (${tally})`);
}

/** Which rule speaks for this failure, and what it says. */
function matchRule(rules: JobRetry, failure: Failure): { retries: boolean; rule: RetryRuleName; message: string } {
  const what = describe(failure);
  const codes = rules.on_exit_codes;
  const signals = rules.on_signals;
  switch (failure.kind) {
    case 'lost':
      return rules.on_lost
        ? { retries: true, rule: 'on_lost', message: `${what}: on_lost retries it` }
        : { retries: false, rule: 'on_lost', message: `${what}, and on_lost is false` };
    case 'timeout':
      return rules.on_timeout
        ? { retries: true, rule: 'on_timeout', message: `${what}: on_timeout retries it` }
        : { retries: false, rule: 'on_timeout', message: `${what}, and on_timeout is false` };
    default:
      break;
  }
  if (!codes && !signals) return { retries: true, rule: 'any_failure', message: `${what}: any failure retries` };
  if (failure.kind === 'exit_code') {
    if (codes?.includes(failure.exitCode)) {
      return { retries: true, rule: 'on_exit_codes', message: `${what} matched on_exit_codes` };
    }
    return codes
      ? { retries: false, rule: 'on_exit_codes', message: `${what} is not in on_exit_codes` }
      : { retries: false, rule: 'on_signals', message: `${what}: only the signals in on_signals retry` };
  }
  if (failure.kind === 'signal') {
    if (signals?.includes(failure.signal)) {
      return { retries: true, rule: 'on_signals', message: `${what} matched on_signals` };
    }
    return signals
      ? { retries: false, rule: 'on_signals', message: `${what}, which is not in on_signals` }
      : { retries: false, rule: 'on_exit_codes', message: `${what}: only the exit codes in on_exit_codes retry` };
  }
  return {
    retries: false,
    rule: codes ? 'on_exit_codes' : 'on_signals',
    message: `${what}: only the exit codes and signals listed retry`,
  };
}

/** Whether an earlier attempt used up one of max_attempts. */
function countsAgainst(attempt: AttemptEnding, rules: JobRetry): boolean {
  if (NEVER_RAN.includes(attempt.status)) return false;
  return failureOf(attempt)?.kind !== 'lost' || rules.lost_counts;
}

/** Attempts that did not run (still waiting, or skipped for a dependency) use up nothing. */
const NEVER_RAN: readonly TaskStatus[] = ['blocked', 'pending', 'assigned', 'running', 'skipped'];

const LOST_BECAUSE: Record<string, string> = {
  runner_lost: 'its runner was lost',
  runner_restarted: 'its runner restarted',
  runner_deleted: 'its runner was deleted',
  agent_stop: 'its solder was shut down',
  disconnected: 'its solder was cut off from the mothership',
};

function describe(failure: Failure): string {
  switch (failure.kind) {
    case 'exit_code':
      return `exit code ${failure.exitCode}`;
    case 'signal':
      return `killed by ${failure.signal}`;
    case 'error':
      return 'failed without an exit code';
    case 'timeout':
      return 'timed out';
    case 'lost':
      return LOST_BECAUSE[failure.reason ?? ''] ?? 'lost with its runner';
  }
}

function decision(retried: boolean, rule: RetryRuleName, counted: boolean, message: string): RetryDecision {
  return { retried, rule, counted, message };
}
