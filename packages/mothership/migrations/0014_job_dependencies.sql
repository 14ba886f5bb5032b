-- Jobs that wait for other jobs (depends_on), take their artifacts (inputs_from), and arrive
-- together (pipelines).
--
-- A job with dependencies not yet met is `blocked` and its attempts are `blocked`: they are not
-- `pending`, so the claim (which walks pending rows only) never sees them and costs nothing more.
-- Releasing is one statement per upstream ending (dependency-store.ts): it marks the dependency
-- rows, counts down `unmet_dependencies` on the downstream jobs, and turns the attempts of every
-- job that reached zero `pending`. A dependency that can no longer be met skips its job: its
-- attempts become `skipped` and the job ends `skipped` with `skip_reason`.

ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
  CHECK (status IN ('blocked', 'queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled', 'skipped'));
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
  CHECK (status IN ('blocked', 'pending', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out',
                    'lost', 'skipped'));

-- A blocked attempt is an element's live attempt too (invariant I1 covers it).
DROP INDEX tasks_one_live_attempt_idx;
CREATE UNIQUE INDEX tasks_one_live_attempt_idx ON tasks (job_id, index)
  WHERE status IN ('blocked', 'pending', 'assigned', 'running');

CREATE TABLE pipelines (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                text,
  created_by_token_id uuid,
  created_by_name     text,
  created_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE jobs
  -- Dependencies not met yet; the job's attempts are released when it reaches zero.
  ADD COLUMN unmet_dependencies integer NOT NULL DEFAULT 0 CONSTRAINT jobs_unmet_dependencies_check
    CHECK (unmet_dependencies >= 0),
  ADD COLUMN skip_reason text,
  ADD COLUMN pipeline_id uuid REFERENCES pipelines (id) ON DELETE SET NULL,
  -- Its place in the pipeline request.
  ADD COLUMN pipeline_position integer;
CREATE INDEX jobs_pipeline_idx ON jobs (pipeline_id, pipeline_position) WHERE pipeline_id IS NOT NULL;

CREATE TABLE job_dependencies (
  job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  upstream_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  -- The order the job listed them in.
  position    integer NOT NULL,
  condition   text NOT NULL CONSTRAINT job_dependencies_condition_check
                CHECK (condition IN ('succeeded', 'failed', 'finished')),
  state       text NOT NULL DEFAULT 'waiting' CONSTRAINT job_dependencies_state_check
                CHECK (state IN ('waiting', 'met', 'unmet')),
  PRIMARY KEY (job_id, upstream_id),
  CONSTRAINT job_dependencies_not_self CHECK (job_id <> upstream_id)
);
-- An upstream job's ending finds its dependants here (and a retry of it, those to re-block).
CREATE INDEX job_dependencies_upstream_idx ON job_dependencies (upstream_id, job_id);

CREATE TABLE job_inputs (
  job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  position     integer NOT NULL,
  upstream_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  -- A glob over the upstream's artifact paths, and the directory they land in.
  artifacts    text NOT NULL,
  path         text,
  same_element boolean NOT NULL DEFAULT false,
  PRIMARY KEY (job_id, position)
);
-- A runner may download an upstream's artifact when it holds a task of a job taking it.
CREATE INDEX job_inputs_upstream_idx ON job_inputs (upstream_id);
