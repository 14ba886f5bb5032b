-- Task logs as chunks (docs/operations.md, "Data and retention"): each accepted batch of a task's
-- log is one row holding its lines packed, instead of one row per line. A chunk covers lines
-- first_line .. first_line + line_count - 1 of its task; a task's chunks tile its log from 0
-- with no gap and no overlap (batches are stored in order under the task's lock).
CREATE TABLE task_log_chunks (
  task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  first_line  integer NOT NULL,
  line_count  integer NOT NULL CONSTRAINT task_log_chunks_count_check CHECK (line_count > 0),
  -- one letter a line: o stdout, e stderr, s system
  streams     text NOT NULL,
  -- the first line's time; the others are offsets_ms[i] milliseconds after it (NULL: all the same)
  logged_at   timestamptz NOT NULL,
  offsets_ms  integer[],
  -- the lines themselves (large values are compressed by PostgreSQL's TOAST)
  messages    text[] NOT NULL,
  PRIMARY KEY (task_id, first_line),
  CONSTRAINT task_log_chunks_shape_check
    CHECK (length(streams) = line_count AND cardinality(messages) = line_count
           AND (offsets_ms IS NULL OR cardinality(offsets_ms) = line_count))
);

-- Existing line rows become chunks of up to 1,000 lines; a run of lines with a hole before it
-- (a database restored from a backup) starts a chunk of its own, so each chunk stays contiguous.
INSERT INTO task_log_chunks (task_id, first_line, line_count, streams, logged_at, offsets_ms, messages)
SELECT task_id, min(line_no), count(*)::integer,
       string_agg(CASE stream WHEN 'stdout' THEN 'o' WHEN 'stderr' THEN 'e' ELSE 's' END, '' ORDER BY line_no),
       (array_agg(logged_at ORDER BY line_no))[1],
       array_agg(ms ORDER BY line_no),
       array_agg(message ORDER BY line_no)
  FROM (SELECT l.*, run_start + (line_no - run_start) / 1000 * 1000 AS chunk_start,
               round(extract(epoch FROM logged_at - first_value(logged_at) OVER (
                 PARTITION BY task_id, run_start + (line_no - run_start) / 1000 ORDER BY line_no)) * 1000)::integer AS ms
          FROM (SELECT task_logs.*, min(line_no) OVER (PARTITION BY task_id, island) AS run_start
                  FROM (SELECT task_logs.*, line_no - row_number() OVER (PARTITION BY task_id ORDER BY line_no) AS island
                          FROM task_logs) task_logs) l) c
 GROUP BY task_id, chunk_start;

DROP TABLE task_logs;

-- The log line by line, for reading with SQL (the server reads the chunks).
CREATE VIEW task_logs AS
SELECT c.task_id,
       c.first_line + u.ord::integer - 1 AS line_no,
       CASE substr(c.streams, u.ord::integer, 1) WHEN 'o' THEN 'stdout' WHEN 'e' THEN 'stderr' ELSE 'system' END AS stream,
       u.message,
       c.logged_at + coalesce(c.offsets_ms[u.ord], 0) * interval '1 millisecond' AS logged_at
  FROM task_log_chunks c, unnest(c.messages) WITH ORDINALITY AS u(message, ord);

-- The cap (docs/configuration.md, BORG_TASK_LOG_LIMIT): per job, a limit in bytes (NULL: the
-- server's default) and what happens past it (NULL or 'truncate': keep head and tail, drop the
-- middle; 'fail': fail the task).
ALTER TABLE jobs ADD COLUMN log_limit bigint CONSTRAINT jobs_log_limit_check CHECK (log_limit > 0);
ALTER TABLE jobs ADD COLUMN log_overflow text CONSTRAINT jobs_log_overflow_check CHECK (log_overflow IN ('truncate', 'fail'));
-- What a task's stored log weighs (message bytes), and what the server itself dropped past the
-- limit (a solder that keeps to the limit drops the middle before sending it).
ALTER TABLE tasks ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN log_dropped_lines bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN log_dropped_bytes bigint NOT NULL DEFAULT 0;
UPDATE tasks t SET log_bytes = s.bytes
  FROM (SELECT task_id, sum(octet_length(m))::bigint AS bytes FROM task_log_chunks, unnest(messages) AS m GROUP BY task_id) s
 WHERE s.task_id = t.id;
