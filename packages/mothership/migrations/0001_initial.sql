-- Borg's initial schema. The same file runs on PostgreSQL 15+ and on PGlite.
-- States are text with CHECK constraints rather than enums so a later migration can add one
-- without ALTER TYPE gymnastics; the legal transitions live in src/jobs/task-states.ts.

CREATE TABLE jobs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name             text NOT NULL,
  type             text NOT NULL CONSTRAINT jobs_type_check CHECK (type IN ('shell', 'binary', 'container')),
  -- a string for shell jobs, an argv array for binary and container jobs
  command          jsonb NOT NULL,
  image            text,
  env              jsonb NOT NULL DEFAULT '{}',
  -- labels a runner must carry to take this job's tasks
  labels           jsonb NOT NULL DEFAULT '{}',
  priority         integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL DEFAULT 1 CONSTRAINT jobs_max_attempts_check CHECK (max_attempts >= 1),
  timeout_seconds  integer CONSTRAINT jobs_timeout_check CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
  array_size       integer NOT NULL DEFAULT 1 CONSTRAINT jobs_array_size_check CHECK (array_size >= 1),
  -- globs of files the solder uploads as artifacts when a task ends
  artifacts        jsonb NOT NULL DEFAULT '[]',
  -- derived from the tasks in the same transaction that changes them (see job-status.ts)
  status           text NOT NULL DEFAULT 'queued' CONSTRAINT jobs_status_check
                     CHECK (status IN ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
  paused           boolean NOT NULL DEFAULT false,
  cancel_requested_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  completed_at     timestamptz
);
-- Newest-first listing with cursor paging, unfiltered and by status.
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, id DESC);
-- Name prefix search.
CREATE INDEX jobs_name_idx ON jobs (name text_pattern_ops);
-- Label filter (labels @> '{"k":"v"}').
CREATE INDEX jobs_labels_idx ON jobs USING gin (labels jsonb_path_ops);

CREATE TABLE runners (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- generated once by the solder and kept in its state directory; re-registration reuses the row
  device_id             text NOT NULL CONSTRAINT runners_device_id_key UNIQUE,
  name                  text NOT NULL,
  hostname              text NOT NULL DEFAULT '',
  os                    text NOT NULL DEFAULT '',
  arch                  text NOT NULL DEFAULT '',
  version               text,
  max_concurrent_tasks  integer NOT NULL CONSTRAINT runners_capacity_check CHECK (max_concurrent_tasks >= 1),
  labels                jsonb NOT NULL DEFAULT '{}',
  resources             jsonb NOT NULL DEFAULT '{}',
  -- online until the reaper sees three heartbeat intervals of silence
  status                text NOT NULL DEFAULT 'online' CONSTRAINT runners_status_check CHECK (status IN ('online', 'offline')),
  -- a draining runner keeps its tasks but claims no new ones
  draining              boolean NOT NULL DEFAULT false,
  last_heartbeat        timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runners_online_heartbeat_idx ON runners (last_heartbeat) WHERE status = 'online';

-- A task row is one attempt of one array element of a job. A retry is a new row with
-- attempt + 1; a row never changes again once it reaches a terminal state.
CREATE TABLE tasks (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id              uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  index               integer NOT NULL,
  attempt             integer NOT NULL,
  status              text NOT NULL DEFAULT 'pending' CONSTRAINT tasks_status_check
                        CHECK (status IN ('pending', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost')),
  -- copied from the job so the claim can be answered from one index
  priority            integer NOT NULL,
  labels              jsonb NOT NULL,
  runner_id           uuid REFERENCES runners (id) ON DELETE SET NULL,
  exit_code           integer,
  -- why the attempt ended when it is not the task's own doing: runner_lost, timed_out, cancelled, …
  reason              text,
  error               text,
  cancel_requested_at timestamptz,
  -- not claimable before this (retry backoff)
  available_at        timestamptz NOT NULL DEFAULT now(),
  -- the server's backstop for timeout_seconds; set when the task is assigned and again when it starts
  deadline_at         timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  assigned_at         timestamptz,
  started_at          timestamptz,
  completed_at        timestamptz,
  -- log batches and lines stored so far; batch n is accepted only after n - 1
  log_batches         integer NOT NULL DEFAULT 0,
  log_lines           integer NOT NULL DEFAULT 0,
  CONSTRAINT tasks_attempt_key UNIQUE (job_id, index, attempt)
);
-- At most one live attempt per element, enforced by the database itself (invariant I1).
CREATE UNIQUE INDEX tasks_one_live_attempt_idx ON tasks (job_id, index)
  WHERE status IN ('pending', 'assigned', 'running');
-- The claim walks this index in order: highest priority, then earliest available, then the
-- element's index (an array job's tasks share one available_at and should start in order).
CREATE INDEX tasks_claim_idx ON tasks (priority DESC, available_at, index, id) WHERE status = 'pending';
-- A runner's live tasks (capacity check, heartbeat answer, reaper).
CREATE INDEX tasks_runner_live_idx ON tasks (runner_id) WHERE status IN ('assigned', 'running');
-- Timeout backstop.
CREATE INDEX tasks_deadline_idx ON tasks (deadline_at) WHERE status IN ('assigned', 'running');

CREATE TABLE task_logs (
  task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  -- the line's number in the task's log, from 0 ("index" in the API)
  line_no    integer NOT NULL,
  stream     text NOT NULL CONSTRAINT task_logs_stream_check CHECK (stream IN ('stdout', 'stderr', 'system')),
  message    text NOT NULL,
  logged_at  timestamptz NOT NULL,
  PRIMARY KEY (task_id, line_no)
);

CREATE TABLE files (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  filename      text NOT NULL,
  size          bigint NOT NULL,
  sha256        text NOT NULL,
  content_type  text NOT NULL DEFAULT 'application/octet-stream',
  -- where the bytes are in the storage directory; derived from the id, never from the name
  storage_key   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE job_files (
  id       bigserial PRIMARY KEY,
  job_id   uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  file_id  uuid NOT NULL REFERENCES files (id),
  path     text NOT NULL,
  CONSTRAINT job_files_path_key UNIQUE (job_id, path)
);
CREATE INDEX job_files_file_idx ON job_files (file_id);

CREATE TABLE artifacts (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  file_id     uuid NOT NULL REFERENCES files (id),
  path        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT artifacts_path_key UNIQUE (task_id, path)
);
CREATE INDEX artifacts_file_idx ON artifacts (file_id);

-- Every credential: user (API) tokens, registration tokens and runner tokens. Only a SHA-256 of
-- the token is stored; tokens are 32 random bytes, so a slow hash would add nothing.
CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind          text NOT NULL CONSTRAINT api_tokens_kind_check CHECK (kind IN ('user', 'registration', 'runner')),
  name          text NOT NULL,
  token_hash    text NOT NULL CONSTRAINT api_tokens_hash_key UNIQUE,
  runner_id     uuid REFERENCES runners (id) ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  expires_at    timestamptz,
  revoked_at    timestamptz,
  CONSTRAINT api_tokens_runner_check CHECK ((kind = 'runner') = (runner_id IS NOT NULL))
);

-- Retry backoffs ending: the maintenance round counts tasks that became claimable since the last round.
CREATE INDEX tasks_pending_available_idx ON tasks (available_at) WHERE status = 'pending';
