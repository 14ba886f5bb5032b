-- What a job's tasks do when their solder cannot reach the mothership (docs/job-lifecycle.md,
-- "Cut off from the mothership"): {stop_after, keep}; null for the default (the solder stops
-- the task once it has been out of touch for longer than the offline window).
ALTER TABLE jobs ADD COLUMN on_disconnect jsonb;
