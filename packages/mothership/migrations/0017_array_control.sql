-- Arrays under control: `max_parallel` caps how many elements of a job are held (assigned or
-- running) at once, across every runner and replica.
--
-- The claim must step over a job at its limit without reading its pending rows (a 10,000-element
-- array at max_parallel 5 leaves 9,995 of them at the head of the queue). So the pending tasks of
-- jobs with a limit leave the claim's main walk altogether: they carry `limited`, tasks_claim_idx
-- now holds only the others, and the claim reaches a limited job's tasks through its own index,
-- taking at most the job's free room of them (the first in claim order). A job at its limit costs
-- one count over its held tasks; jobs without a limit cost the claim one look at an empty index.

ALTER TABLE jobs ADD COLUMN max_parallel integer
  CONSTRAINT jobs_max_parallel_check CHECK (max_parallel IS NULL OR max_parallel BETWEEN 1 AND 10000);

-- True while the task's job has max_parallel: set at submit (jobStore.insert), on every later
-- attempt (the trigger below), and on the job's live tasks when PATCH sets or lifts the limit.
ALTER TABLE tasks ADD COLUMN limited boolean NOT NULL DEFAULT false;

-- The claim's main walk: pending tasks of jobs without a limit (was: every pending task).
DROP INDEX tasks_claim_idx;
CREATE INDEX tasks_claim_idx ON tasks (priority DESC, available_at, index, id) WHERE status = 'pending' AND NOT limited;
-- A limited job's pending tasks in claim order, and its held ones (the count its limit is checked against).
CREATE INDEX tasks_limited_claim_idx ON tasks (job_id, priority DESC, available_at, index, id)
  WHERE status = 'pending' AND limited;
CREATE INDEX tasks_limited_held_idx ON tasks (job_id) WHERE status IN ('assigned', 'running') AND limited;
-- The jobs with a limit that may still have work: what the claim looks at first (empty for most).
CREATE INDEX jobs_limited_idx ON jobs (id) WHERE max_parallel IS NOT NULL AND completed_at IS NULL;

-- A retry (automatic or asked for) inherits the job's limit as it is now. Jobs and their PATCH are
-- serialised by the job's row lock, which every path inserting a retry holds. First attempts are
-- flagged by the submit's own INSERT, so a 10,000-element submit runs no trigger.
CREATE FUNCTION borg_task_limited() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.limited := EXISTS (SELECT 1 FROM jobs WHERE id = NEW.job_id AND max_parallel IS NOT NULL);
  RETURN NEW;
END
$$;
CREATE TRIGGER tasks_limited_retry BEFORE INSERT ON tasks
  FOR EACH ROW WHEN (NEW.attempt > 1) EXECUTE FUNCTION borg_task_limited();

-- Whether a task's request fits what a runner has free (the test the claim's walk makes inline,
-- as a function for the limited path, where it runs once per limited job rather than per row).
CREATE FUNCTION borg_request_fits(p_resources jsonb, p_free_cpu numeric, p_free_memory numeric, p_free_gpus jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_resources = '{}' OR (
    coalesce((p_resources ->> 'cpu')::numeric, 0) <= p_free_cpu
    AND coalesce((p_resources ->> 'memory_mb')::numeric, 0) <= p_free_memory
    AND coalesce((p_resources ->> 'gpus')::integer, 0) <= (
      SELECT count(*) FROM jsonb_array_elements(p_free_gpus) g
       WHERE coalesce((g ->> 'free_mb')::numeric, 0) >= coalesce((p_resources ->> 'gpu_memory_mb')::numeric, 0)))
$$;

-- The claim of 0011, with max_parallel. Before walking, it locks the jobs with a limit that this
-- runner could take from and that look to have room (a transaction-scoped advisory lock per job,
-- taken in job id order so two claims never wait on each other in a cycle), then counts their
-- held tasks again in a statement that begins after the locks: every claim of those jobs that
-- committed before is counted, and none can commit meanwhile, so no two claims together exceed
-- the limit. The job's row is never locked (the lock order elsewhere is job, then tasks, and
-- cancel holds the job while it updates tasks). A claim waits for another's lock on a job rather
-- than stepping over it as SKIP LOCKED steps over rows: stepping over would leave room unfilled
-- when claims come together (five one-slot runners woken at once for a job at 5 would start one
-- element, perhaps for hours). Only claims that could take from a job that looks to have room
-- queue for it, each for as long as one claim; jobs that look full are not locked at all, and one
-- that just got room is found by the next claim, which its ending wakes (queue.ts).
-- Without a limited job in reach the walk is 0011's, over a smaller index: the walk is written
-- twice below so that this common case keeps 0011's plan, not a UNION's.
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
  -- Jobs with max_parallel this claim holds the lock of, and how many more tasks each may take.
  limited_ids uuid[] := '{}';
  limited_room integer[] := '{}';
  limited_id uuid;
  room_at integer;
  candidates refcursor;
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
  -- Whether any job has a limit rides along (most claims then never look for one again).
  SELECT r.max_concurrent_tasks, r.labels, r.attributes, r.capacity, r.gpu_samples, r.draining, r.status,
         r.approved_at, r.deleted_at,
         EXISTS (SELECT 1 FROM jobs lj WHERE lj.max_parallel IS NOT NULL AND lj.completed_at IS NULL) AS limits
    INTO runner
    FROM runners r WHERE r.id = p_runner_id FOR UPDATE OF r;
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

  -- Limited jobs this runner may take from (their requests fit what it has free) that look to
  -- have room and claimable tasks, read without locks: a stale "full" only defers the job to the
  -- next claim. Only these are locked, so a runner that could take none of a job's tasks never
  -- holds up the claims of those that could.
  IF runner.limits THEN
    SELECT coalesce(array_agg(j.id ORDER BY j.id), '{}') INTO limited_ids
      FROM jobs j
     WHERE j.max_parallel IS NOT NULL AND j.completed_at IS NULL AND NOT j.paused
       AND j.labels <@ runner.labels
       AND (p_job_types IS NULL OR j.type = ANY (p_job_types))
       AND (j.constraints IS NULL OR cardinality(borg_constraints_unmet(j.constraints, runner.attributes)) = 0)
       AND borg_request_fits(j.resources, free_cpu, free_memory, free_gpus)
       AND (SELECT count(*) FROM tasks h
             WHERE h.job_id = j.id AND h.status IN ('assigned', 'running') AND h.limited) < j.max_parallel
       AND EXISTS (SELECT 1 FROM tasks c
                    WHERE c.job_id = j.id AND c.status = 'pending' AND c.limited AND c.available_at <= now());
    IF cardinality(limited_ids) > 0 THEN
      FOREACH limited_id IN ARRAY limited_ids LOOP
        PERFORM pg_advisory_xact_lock(x'626f7203'::integer, hashtext(limited_id::text));
      END LOOP;
      SELECT coalesce(array_agg(j.id ORDER BY j.id), '{}'), coalesce(array_agg(j.max_parallel - held.n ORDER BY j.id), '{}')
        INTO limited_ids, limited_room
        FROM jobs j CROSS JOIN LATERAL (
               SELECT count(*)::integer AS n FROM tasks h
                WHERE h.job_id = j.id AND h.status IN ('assigned', 'running') AND h.limited) held
       WHERE j.id = ANY (limited_ids) AND j.max_parallel > held.n;
    END IF;
  END IF;

  LOOP
    found_any := false;
    -- Tasks it may run (labels it carries, constraints it meets, job not paused, backoff over,
    -- of a type it takes) whose request fits what is free now, in priority, then FIFO, order.
    -- The job's row is read by its key per candidate; SKIP LOCKED steps over rows another claim
    -- is taking, so no task is claimed twice and no claimer waits.
    IF cardinality(limited_ids) = 0 THEN
      OPEN candidates FOR
        SELECT c.id, c.job_id, (SELECT pj.resources FROM jobs pj WHERE pj.id = c.job_id) AS resources
          FROM tasks c
         WHERE c.status = 'pending' AND NOT c.limited
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
         FOR UPDATE OF c SKIP LOCKED;
    ELSE
      -- The same walk, merged in claim order with the first `room` pending tasks of each locked
      -- limited job. Rows of the walk that the merge leaves out stay locked until the commit;
      -- other claims step over them meanwhile.
      OPEN candidates FOR
        SELECT u.id, u.job_id, u.resources FROM (
          SELECT * FROM (
            SELECT c.id, c.job_id, c.priority, c.available_at, c.index,
                   (SELECT pj.resources FROM jobs pj WHERE pj.id = c.job_id) AS resources
              FROM tasks c
             WHERE c.status = 'pending' AND NOT c.limited
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
             FOR UPDATE OF c SKIP LOCKED) unlimited
          UNION ALL
          SELECT c.id, c.job_id, c.priority, c.available_at, c.index, pj.resources
            FROM unnest(limited_ids, limited_room) AS l(job_id, room)
            JOIN jobs pj ON pj.id = l.job_id
            CROSS JOIN LATERAL (
              SELECT c.id, c.job_id, c.priority, c.available_at, c.index FROM tasks c
               WHERE c.job_id = l.job_id AND c.status = 'pending' AND c.limited
                 AND c.available_at <= now()
                 AND c.labels <@ runner.labels
                 AND c.id <> ALL (seen)
               ORDER BY c.priority DESC, c.available_at, c.index, c.id
               LIMIT least(l.room, free_slots)
               FOR UPDATE OF c SKIP LOCKED) c
           WHERE l.room > 0 AND NOT pj.paused
             AND borg_request_fits(pj.resources, free_cpu, free_memory, free_gpus)
        ) u
        ORDER BY u.priority DESC, u.available_at, u.index, u.id
        LIMIT free_slots;
    END IF;
    LOOP
      FETCH candidates INTO candidate;
      EXIT WHEN NOT FOUND;
      found_any := true;
      seen := array_append(seen, candidate.id);
      room_at := array_position(limited_ids, candidate.job_id);
      CONTINUE WHEN room_at IS NOT NULL AND limited_room[room_at] <= 0;
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
      IF room_at IS NOT NULL THEN
        limited_room[room_at] := limited_room[room_at] - 1;
      END IF;
    END LOOP;
    CLOSE candidates;
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
