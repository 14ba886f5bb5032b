import { type JobRetry, parseDurationMs } from '@borg/protocol';

export interface BackoffPolicy {
  /** Delay before attempt 2; doubled for each attempt after that. */
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries of
 * many tasks that failed together (a runner lost with 50 tasks) spread out instead of landing
 * on the queue in one burst, while each still waits at least half its nominal delay.
 */
export function retryDelayMs(policy: BackoffPolicy, failedAttempt: number, random = Math.random): number {
  const nominal = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failedAttempt - 1));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}

/** A job's own backoff (`retry.backoff`), or the mothership's when it gives none. */
export function backoffPolicyOf(retry: JobRetry | null, fallback: BackoffPolicy): BackoffPolicy {
  if (!retry?.backoff) return fallback;
  return { baseMs: parseDurationMs(retry.backoff.initial) ?? 0, maxMs: parseDurationMs(retry.backoff.max) ?? 0 };
}
