-- A client may send `Idempotency-Key` with POST /jobs: a retry of a submission whose answer was
-- lost (a timeout, a dropped connection) then finds the job the first request created instead
-- of creating a second one (reliability plan F17e).
ALTER TABLE jobs ADD COLUMN idempotency_key text;
-- sha256 of the request the key was first used with: the same key with a different job is refused.
ALTER TABLE jobs ADD COLUMN request_sha256 text;
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
