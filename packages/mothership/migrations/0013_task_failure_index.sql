-- The jobs list names a failed job's first failing element (job-outcome-store.ts). Walking a job's
-- attempts in element order to find it read every attempt before it: a 10,000-element array
-- failing at element 9,000 cost 4 ms, once per such job on every page. Only failing attempts
-- enter this index, so it stays small, and the walk starts at the first of them.
CREATE INDEX tasks_failing_idx ON tasks (job_id, index, attempt) WHERE status IN ('failed', 'timed_out', 'lost');
