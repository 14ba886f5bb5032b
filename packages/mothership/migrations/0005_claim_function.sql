-- The claim as one call (taskStore.claim). It was a transaction of four round trips from the
-- mothership: BEGIN, the runner's row lock, the claim statement, COMMIT. The lock has to come
-- before the claim in a statement of its own: in READ COMMITTED each statement reads one
-- snapshot, and only a statement that starts after the lock is granted counts every task an
-- earlier claim of the same runner committed. A VOLATILE PL/pgSQL function keeps that order
-- (each of its statements takes a fresh snapshot) in one round trip. Figure 1 (dispatch latency,
-- `npm run bench -- dispatch`), back to back on one machine: hand-over p50 12.1/13.0 → 10.4/10.6 ms.
--
-- Returns the claimed tasks with what the runner needs of their jobs, read in the same
-- statement as the claim: a job committed after the caller's statement began is still seen.
CREATE FUNCTION borg_claim(p_runner_id uuid, p_max integer)
RETURNS TABLE (task tasks, job_name text, type text, command jsonb, image text, env jsonb,
               artifacts jsonb, timeout_seconds integer, array_size integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  runner record;
BEGIN
  -- Claims by one runner queue up here, which keeps the runner under its capacity.
  SELECT r.max_concurrent_tasks, r.labels, r.draining, r.status INTO runner
    FROM runners r WHERE r.id = p_runner_id FOR UPDATE;
  IF NOT FOUND OR runner.draining OR runner.status = 'offline' OR p_max <= 0 THEN
    RETURN;
  END IF;
  -- Count the runner's live tasks, take up to its free capacity of pending tasks in priority,
  -- then FIFO, order among those it may run (labels it carries, job not paused, backoff over),
  -- and assign them on the database's clock. SKIP LOCKED steps over rows another claim is
  -- taking, so no task is claimed twice and no claimer waits. The walk follows tasks_claim_idx.
  RETURN QUERY
  WITH capacity AS (
    SELECT greatest(0, least(p_max, runner.max_concurrent_tasks - count(*)::integer)) AS free
      FROM tasks WHERE runner_id = p_runner_id AND status IN ('assigned', 'running')
  ), picked AS (
    SELECT c.id FROM tasks c
     WHERE c.status = 'pending'
       AND c.available_at <= now()
       AND c.labels <@ runner.labels
       AND NOT EXISTS (SELECT 1 FROM jobs pj WHERE pj.id = c.job_id AND pj.paused)
     ORDER BY c.priority DESC, c.available_at, c.index, c.id
     LIMIT (SELECT free FROM capacity)
     FOR UPDATE OF c SKIP LOCKED
  )
  UPDATE tasks t SET status = 'assigned', runner_id = p_runner_id, assigned_at = now(),
         deadline_at = now() + make_interval(secs => j.timeout_seconds)
    FROM picked, jobs j
   WHERE t.id = picked.id AND j.id = t.job_id
  RETURNING t, j.name, j.type, j.command, j.image, j.env, j.artifacts, j.timeout_seconds, j.array_size;
END
$$;
