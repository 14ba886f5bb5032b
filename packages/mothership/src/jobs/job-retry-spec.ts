import type { JobOnDisconnect, JobRetry, ValidCreateJobRequest } from '@borg/protocol';

/**
 * A submitted job's retry rules as stored (jobs.retry): every default filled in, lists sorted
 * and without repeats. Null for a job that gave only max_attempts (the old rule).
 */
export function storedRetry(input: ValidCreateJobRequest): JobRetry | null {
  const rules = input.retry;
  if (!rules) return null;
  return {
    max_attempts: input.max_attempts,
    on_exit_codes: rules.on_exit_codes ? [...new Set(rules.on_exit_codes)].sort((a, b) => a - b) : null,
    on_signals: rules.on_signals ? [...new Set(rules.on_signals)].sort() : null,
    on_lost: rules.on_lost,
    on_timeout: rules.on_timeout,
    lost_counts: rules.lost_counts,
    backoff: rules.backoff ?? null,
  };
}

/** A submitted job's on_disconnect as stored; null when it asks for the default. */
export function storedOnDisconnect(input: ValidCreateJobRequest): JobOnDisconnect | null {
  const policy = input.on_disconnect;
  if (!policy || (!policy.keep && policy.stop_after === undefined)) return null;
  return { stop_after: policy.stop_after ?? null, keep: policy.keep ?? false };
}
