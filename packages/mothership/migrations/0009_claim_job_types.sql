-- What a runner claims: only the job types it runs (a solder's --job-types), and a container
-- job's user (--user of its container), handed over with the claim.

-- The uid (or uid:gid) a container job asks to run as; null: the image's own user.
ALTER TABLE jobs ADD COLUMN container_user text;

-- The claim of 0008 with a third, optional argument: the job types the runner takes (null: all).
-- The function's arguments and columns change, so it is dropped and made again; a replica still
-- calling borg_claim(runner, max) gets the same function with p_job_types NULL.
DROP FUNCTION borg_claim(uuid, integer);
CREATE FUNCTION borg_claim(p_runner_id uuid, p_max integer, p_job_types text[] DEFAULT NULL)
RETURNS TABLE (task tasks, job_name text, type text, command jsonb, image text, env jsonb,
               artifacts jsonb, timeout_seconds integer, array_size integer, container_user text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  runner record;
BEGIN
  -- Claims by one runner queue up here, which keeps the runner under its capacity.
  SELECT r.max_concurrent_tasks, r.labels, r.draining, r.status, r.approved_at, r.deleted_at INTO runner
    FROM runners r WHERE r.id = p_runner_id FOR UPDATE;
  IF NOT FOUND OR runner.draining OR runner.status = 'offline' OR runner.approved_at IS NULL
     OR runner.deleted_at IS NOT NULL OR p_max <= 0 THEN
    RETURN;
  END IF;
  -- Count the runner's live tasks, take up to its free capacity of pending tasks in priority,
  -- then FIFO, order among those it may run (labels it carries, job not paused, backoff over),
  -- and assign them on the database's clock. With p_job_types, only tasks of jobs of those types
  -- (the runner's --job-types): the rest stay pending for other runners. The job's row is read
  -- once per candidate, by its key, as the paused check did before. SKIP LOCKED steps over rows another claim is
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
       AND EXISTS (SELECT 1 FROM jobs pj WHERE pj.id = c.job_id AND NOT pj.paused
                     AND (p_job_types IS NULL OR pj.type = ANY (p_job_types)))
     ORDER BY c.priority DESC, c.available_at, c.index, c.id
     LIMIT (SELECT free FROM capacity)
     FOR UPDATE OF c SKIP LOCKED
  )
  UPDATE tasks t SET status = 'assigned', runner_id = p_runner_id, assigned_at = now(),
         deadline_at = now() + make_interval(secs => j.timeout_seconds)
    FROM picked, jobs j
   WHERE t.id = picked.id AND j.id = t.job_id
  RETURNING t, j.name, j.type, j.command, j.image, j.env, j.artifacts, j.timeout_seconds, j.array_size,
            j.container_user;
END
$$;
