-- Retry rules (docs/job-lifecycle.md, "Retry rules"). A job's `retry` is its rules with every
-- default filled in (max_attempts, on_exit_codes, on_signals, on_lost, on_timeout, lost_counts,
-- backoff); null for a job that gave only max_attempts, which keeps the old rule (any failure
-- retries, every attempt counts). jobs.max_attempts stays the number of attempts either way.
ALTER TABLE jobs ADD COLUMN retry jsonb;

-- The signal that killed an attempt's process ('SIGKILL'), reported by the solder; exit_code is
-- null then.
ALTER TABLE tasks ADD COLUMN signal text;

-- Why an attempt that did not succeed was retried or not: {retried, rule, counted, message}, written
-- in the statement that ends it (see src/jobs/retry-decision.ts); null for successes, user
-- cancels, and failures of jobs with one attempt and no rules.
ALTER TABLE tasks ADD COLUMN retry_decision jsonb;
