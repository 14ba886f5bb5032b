-- Retention (docs/operations.md, "Data and retention"): what the maintenance leader deletes, and
-- what a job may say about its own keeping.

-- A job's own retention after it ends (NULL: the server's BORG_RETENTION_JOBS), whether it is
-- kept for good, and how many of the newest jobs of its name are kept whatever their age.
ALTER TABLE jobs
  ADD COLUMN retention_seconds bigint CONSTRAINT jobs_retention_check CHECK (retention_seconds > 0),
  ADD COLUMN pinned boolean NOT NULL DEFAULT false,
  ADD COLUMN keep_last integer CONSTRAINT jobs_keep_last_check CHECK (keep_last >= 1);

-- The sweep walks ended jobs oldest first: those under the server's default by completion time,
-- and the few with a retention of their own.
CREATE INDEX jobs_default_retention_idx ON jobs (completed_at)
  WHERE completed_at IS NOT NULL AND retention_seconds IS NULL AND NOT pinned;
CREATE INDEX jobs_own_retention_idx ON jobs (completed_at)
  WHERE completed_at IS NOT NULL AND retention_seconds IS NOT NULL AND NOT pinned;
-- keep_last counts the newer jobs of the same name.
CREATE INDEX jobs_name_created_idx ON jobs (name, created_at);

-- Where a file came from: `upload` (a person or a client sent it; freed when no job has used it
-- for BORG_RETENTION_FILES) or `artifact` (a task produced it; freed with its last artifact row).
ALTER TABLE files ADD COLUMN kind text NOT NULL DEFAULT 'upload'
  CONSTRAINT files_kind_check CHECK (kind IN ('upload', 'artifact'));
UPDATE files SET kind = 'artifact' WHERE id IN (SELECT file_id FROM artifacts);
CREATE INDEX files_upload_created_idx ON files (created_at) WHERE kind = 'upload';

-- BORG_RETENTION_ARTIFACTS walks artifacts oldest first.
CREATE INDEX artifacts_created_idx ON artifacts (created_at);

-- BORG_RETENTION_RUNNERS walks offline runners by their last sign of life.
CREATE INDEX runners_offline_idx ON runners ((coalesce(last_heartbeat, created_at)))
  WHERE status = 'offline' AND deleted_at IS NULL;
