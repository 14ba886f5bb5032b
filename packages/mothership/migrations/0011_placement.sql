-- Placement by resources and GPUs, and constraint expressions.

-- What each task of a job asks of its runner: {"cpu", "memory_mb", "gpus", "gpu_memory_mb"}, all
-- optional; {} takes a slot and nothing else.
ALTER TABLE jobs ADD COLUMN resources jsonb NOT NULL DEFAULT '{}';
-- Parsed constraint expressions, [{"key", "op", "values"}]; null when the job has none, so the
-- claim skips them at the cost of one null test.
ALTER TABLE jobs ADD COLUMN constraints jsonb;
-- At submit no known runner could take the job, and it asked to be queued anyway.
ALTER TABLE jobs ADD COLUMN unsatisfiable boolean NOT NULL DEFAULT false;

-- The GPUs an attempt holds, [{"index", "uuid"}], for as long as it is assigned or running.
ALTER TABLE tasks ADD COLUMN gpus jsonb NOT NULL DEFAULT '[]';

-- What the runner offers to tasks that ask for resources, {"cpu", "memory_mb", "gpus": [GPU]};
-- null: it sent none and takes only tasks that ask for nothing.
ALTER TABLE runners ADD COLUMN capacity jsonb;
-- Its labels over what detection knows (cpu_count, memory_gb, gpu_count, gpu_model, os, arch,
-- hostname): what constraint expressions read.
ALTER TABLE runners ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';
-- The last sample of each GPU, by index: {"0": {"utilization_pct", "memory_used_mb", "memory_free_mb", "at"}}.
ALTER TABLE runners ADD COLUMN gpu_samples jsonb NOT NULL DEFAULT '{}';
UPDATE runners SET attributes = labels || jsonb_build_object('hostname', hostname, 'os', os, 'arch', arch);

-- The samples of the GPUs a task held, for its page's charts; they go with the task.
CREATE TABLE task_gpu_samples (
  task_id         uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  gpu_index       integer NOT NULL,
  sampled_at      timestamptz NOT NULL,
  utilization_pct real,
  memory_used_mb  real,
  memory_free_mb  real
);
CREATE INDEX task_gpu_samples_task_idx ON task_gpu_samples (task_id, gpu_index, sampled_at);

-- The 0-based positions of the constraints `attributes` does not meet. A missing attribute meets
-- only `!=`, `not in`, `!~` and `!exists`; the numeric operators need a number on both sides; a
-- regular expression the database cannot compile meets nothing (the claim must never fail on it).
CREATE FUNCTION borg_constraints_unmet(p_constraints jsonb, p_attributes jsonb)
RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  c jsonb;
  pos integer := 0;
  have text;
  want text;
  ok boolean;
  unmet integer[] := '{}';
BEGIN
  FOR c IN SELECT value FROM jsonb_array_elements(coalesce(p_constraints, '[]')) LOOP
    have := p_attributes ->> (c ->> 'key');
    want := c -> 'values' ->> 0;
    ok := CASE c ->> 'op'
      WHEN 'exists' THEN have IS NOT NULL
      WHEN '!exists' THEN have IS NULL
      WHEN '==' THEN have IS NOT NULL AND have = want
      WHEN '!=' THEN have IS NULL OR have <> want
      WHEN 'in' THEN have IS NOT NULL AND (c -> 'values') ? have
      WHEN 'not in' THEN have IS NULL OR NOT (c -> 'values') ? have
      WHEN '<' THEN borg_is_number(have) AND have::numeric < want::numeric
      WHEN '<=' THEN borg_is_number(have) AND have::numeric <= want::numeric
      WHEN '>' THEN borg_is_number(have) AND have::numeric > want::numeric
      WHEN '>=' THEN borg_is_number(have) AND have::numeric >= want::numeric
      ELSE NULL
    END;
    IF c ->> 'op' IN ('~', '!~') THEN
      BEGIN
        ok := CASE WHEN have IS NULL THEN c ->> 'op' = '!~'
                   WHEN c ->> 'op' = '~' THEN have ~ want
                   ELSE have !~ want END;
      EXCEPTION WHEN invalid_regular_expression THEN
        ok := false;
      END;
    END IF;
    IF ok IS NOT TRUE THEN
      unmet := unmet || pos;
    END IF;
    pos := pos + 1;
  END LOOP;
  RETURN unmet;
END
$$;

-- Decimal numbers as labels write them (the protocol's isNumber): 64, 1.5, -3.
CREATE FUNCTION borg_is_number(p_value text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT p_value ~ '^-?\d{1,15}(\.\d{1,15})?$' $$;

-- The claim of 0009, now packing by resources as well as by slots. The free CPU, memory and GPUs
-- of the runner are its capacity less what its live tasks hold; a candidate is taken only if
-- what it asks fits what is still free, and a task asking for GPUs gets specific devices, each
-- with at least the free memory it asks (the last sample, else what was detected). Candidates
-- are walked in the same order as before; each round locks at most as many as there are free
-- slots and the first of a round always fits, so a claim takes a bounded number of rounds. A
-- task asking for nothing fits any runner with a free slot, so for those the first round is the
-- claim of 0009. Constraints are evaluated only for jobs that have them.
DROP FUNCTION borg_claim(uuid, integer, text[]);
CREATE FUNCTION borg_claim(p_runner_id uuid, p_max integer, p_job_types text[] DEFAULT NULL)
RETURNS TABLE (task tasks, job_name text, type text, command jsonb, image text, env jsonb,
               artifacts jsonb, timeout_seconds integer, array_size integer, container_user text,
               resources jsonb)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  runner record;
  live integer;
  free_slots integer;
  free_cpu numeric;
  free_memory numeric;
  -- The runner's GPUs no live task holds: [{"index", "uuid", "free_mb"}], by index.
  free_gpus jsonb;
  candidate record;
  want jsonb;
  want_gpus integer;
  want_gpu_memory numeric;
  chosen jsonb;
  seen uuid[] := '{}';
  picked uuid[] := '{}';
  picked_gpus jsonb[] := '{}';
  found_any boolean;
BEGIN
  -- Claims by one runner queue up here, which keeps the runner under its capacity.
  SELECT r.max_concurrent_tasks, r.labels, r.attributes, r.capacity, r.gpu_samples, r.draining, r.status,
         r.approved_at, r.deleted_at INTO runner
    FROM runners r WHERE r.id = p_runner_id FOR UPDATE;
  IF NOT FOUND OR runner.draining OR runner.status = 'offline' OR runner.approved_at IS NULL
     OR runner.deleted_at IS NOT NULL OR p_max <= 0 THEN
    RETURN;
  END IF;

  SELECT count(*)::integer,
         coalesce(runner.capacity ->> 'cpu', '0')::numeric - coalesce(sum((j.resources ->> 'cpu')::numeric), 0),
         coalesce(runner.capacity ->> 'memory_mb', '0')::numeric - coalesce(sum((j.resources ->> 'memory_mb')::numeric), 0)
    INTO live, free_cpu, free_memory
    FROM tasks t JOIN jobs j ON j.id = t.job_id
   WHERE t.runner_id = p_runner_id AND t.status IN ('assigned', 'running');
  free_slots := least(p_max, runner.max_concurrent_tasks - live);
  IF free_slots <= 0 THEN
    RETURN;
  END IF;

  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'index', g.value -> 'index', 'uuid', coalesce(g.value ->> 'uuid', ''),
           'free_mb', coalesce((runner.gpu_samples -> (g.value ->> 'index')) ->> 'memory_free_mb',
                               g.value ->> 'memory_free_mb', g.value ->> 'memory_mb')::numeric)
           ORDER BY (g.value ->> 'index')::integer), '[]')
    INTO free_gpus
    FROM jsonb_array_elements(coalesce(runner.capacity -> 'gpus', '[]')) g
   WHERE NOT EXISTS (
     SELECT 1 FROM tasks t, jsonb_array_elements(t.gpus) held
      WHERE t.runner_id = p_runner_id AND t.status IN ('assigned', 'running')
        AND held ->> 'index' = g.value ->> 'index');

  LOOP
    found_any := false;
    -- Tasks it may run (labels it carries, constraints it meets, job not paused, backoff over,
    -- of a type it takes) whose request fits what is free now, in priority, then FIFO, order.
    -- The job's row is read by its key per candidate; SKIP LOCKED steps over rows another claim
    -- is taking, so no task is claimed twice and no claimer waits.
    FOR candidate IN
      SELECT c.id, (SELECT pj.resources FROM jobs pj WHERE pj.id = c.job_id) AS resources
        FROM tasks c
       WHERE c.status = 'pending'
         AND c.available_at <= now()
         AND c.labels <@ runner.labels
         AND c.id <> ALL (seen)
         AND EXISTS (
           SELECT 1 FROM jobs pj WHERE pj.id = c.job_id AND NOT pj.paused
              AND (p_job_types IS NULL OR pj.type = ANY (p_job_types))
              AND (pj.constraints IS NULL
                   OR cardinality(borg_constraints_unmet(pj.constraints, runner.attributes)) = 0)
              AND (pj.resources = '{}' OR (
                   coalesce((pj.resources ->> 'cpu')::numeric, 0) <= free_cpu
                   AND coalesce((pj.resources ->> 'memory_mb')::numeric, 0) <= free_memory
                   AND coalesce((pj.resources ->> 'gpus')::integer, 0) <= (
                     SELECT count(*) FROM jsonb_array_elements(free_gpus) g
                      WHERE coalesce((g ->> 'free_mb')::numeric, 0)
                            >= coalesce((pj.resources ->> 'gpu_memory_mb')::numeric, 0)))))
       ORDER BY c.priority DESC, c.available_at, c.index, c.id
       LIMIT free_slots
       FOR UPDATE OF c SKIP LOCKED
    LOOP
      found_any := true;
      seen := array_append(seen, candidate.id);
      want := candidate.resources;
      want_gpus := coalesce((want ->> 'gpus')::integer, 0);
      want_gpu_memory := coalesce((want ->> 'gpu_memory_mb')::numeric, 0);
      CONTINUE WHEN coalesce((want ->> 'cpu')::numeric, 0) > free_cpu
                 OR coalesce((want ->> 'memory_mb')::numeric, 0) > free_memory;
      chosen := '[]';
      IF want_gpus > 0 THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('index', (g ->> 'index')::integer, 'uuid', g ->> 'uuid')
                                  ORDER BY n), '[]')
          INTO chosen
          FROM (SELECT g, n FROM jsonb_array_elements(free_gpus) WITH ORDINALITY AS f(g, n)
                 WHERE coalesce((g ->> 'free_mb')::numeric, 0) >= want_gpu_memory
                 ORDER BY n LIMIT want_gpus) fitting;
        CONTINUE WHEN jsonb_array_length(chosen) < want_gpus;
        SELECT coalesce(jsonb_agg(g ORDER BY n), '[]') INTO free_gpus
          FROM jsonb_array_elements(free_gpus) WITH ORDINALITY AS f(g, n)
         WHERE NOT chosen @> jsonb_build_array(jsonb_build_object('index', (g ->> 'index')::integer));
      END IF;
      free_cpu := free_cpu - coalesce((want ->> 'cpu')::numeric, 0);
      free_memory := free_memory - coalesce((want ->> 'memory_mb')::numeric, 0);
      picked := array_append(picked, candidate.id);
      picked_gpus := array_append(picked_gpus, chosen);
      free_slots := free_slots - 1;
    END LOOP;
    EXIT WHEN NOT found_any OR free_slots <= 0;
  END LOOP;

  IF cardinality(picked) = 0 THEN
    RETURN;
  END IF;
  -- Assigned on the database's clock, each with its devices.
  RETURN QUERY
  UPDATE tasks t SET status = 'assigned', runner_id = p_runner_id, assigned_at = now(), gpus = p.gpus,
         deadline_at = now() + make_interval(secs => j.timeout_seconds)
    FROM unnest(picked, picked_gpus) AS p(id, gpus), jobs j
   WHERE t.id = p.id AND j.id = t.job_id
  RETURNING t, j.name, j.type, j.command, j.image, j.env, j.artifacts, j.timeout_seconds, j.array_size,
            j.container_user, j.resources;
END
$$;
