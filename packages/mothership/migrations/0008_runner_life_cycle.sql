-- The runner's life cycle: registration tokens with limits, approval, deletion.

-- A registration token may be used a limited number of times (null: no limit), and may restrict
-- the labels a runner registered with it carries (null: any labels).
ALTER TABLE api_tokens ADD COLUMN max_uses integer CONSTRAINT api_tokens_max_uses_check CHECK (max_uses >= 1);
ALTER TABLE api_tokens ADD COLUMN uses integer NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN allowed_labels jsonb;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_registration_limits_check
  CHECK (kind = 'registration' OR (max_uses IS NULL AND allowed_labels IS NULL));

-- The registration token a runner first registered with: its allowed labels bind the runner for
-- good, and only it (or the runner's own token) may register the device again.
ALTER TABLE runners ADD COLUMN registered_with uuid REFERENCES api_tokens (id) ON DELETE SET NULL;
-- Null while the runner waits for an operator's approval (BORG_RUNNER_APPROVAL); it claims nothing then.
ALTER TABLE runners ADD COLUMN approved_at timestamptz DEFAULT now();
UPDATE runners SET approved_at = created_at;
-- A deleted runner is gone from every list and its device may not register again; the row stays
-- so the tasks it ran still name it.
ALTER TABLE runners ADD COLUMN deleted_at timestamptz;

-- The claim of 0005, refusing runners that are not approved or were deleted.
CREATE OR REPLACE FUNCTION borg_claim(p_runner_id uuid, p_max integer)
RETURNS TABLE (task tasks, job_name text, type text, command jsonb, image text, env jsonb,
               artifacts jsonb, timeout_seconds integer, array_size integer)
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
