import {
  formatConstraint,
  formatDurationSeconds,
  type Job,
  type JobDependency,
  type JobFile,
  type JobFileWithMeta,
  type JobInput,
  type JobOnDisconnect,
  type JobOutcome,
  type JobRetry,
  type JobStatus,
  type JobType,
  type LogOverflow,
  type ParsedConstraint,
  type ResourceRequest,
} from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';

/** A job's settings that its claimed tasks run with (jobStore.runSettingsOf). */
export interface JobRunSettings {
  /** Environment variable → secret name; {} without secrets. */
  secrets: Record<string, string>;
  on_disconnect: JobOnDisconnect | null;
  log_limit: number | null;
  log_overflow: LogOverflow | null;
}

export interface JobRow {
  id: string;
  name: string;
  type: JobType;
  status: JobStatus;
  command: string | string[];
  image: string | null;
  container_user: string | null;
  env: Record<string, string>;
  secrets: Record<string, string>;
  labels: Record<string, string>;
  resources: ResourceRequest;
  constraints: ParsedConstraint[] | null;
  unsatisfiable: boolean;
  priority: number;
  max_attempts: number;
  /** Retry rules (migration 0018); null: only max_attempts, the old rule. */
  retry: JobRetry | null;
  /** What its tasks do when their solder is cut off (migration 0019); null: the default. */
  on_disconnect: JobOnDisconnect | null;
  /** Each task's log limit in bytes and what happens past it (migration 0020); null: the server's default. */
  log_limit: number | null;
  log_overflow: LogOverflow | null;
  timeout_seconds: number | null;
  array_size: number;
  /** Elements held at once at most; null: no limit (migration 0017). */
  max_parallel: number | null;
  artifacts: string[];
  paused: boolean;
  cancel_requested_at: Date | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  created_by_token_id: string | null;
  created_by_name: string | null;
  /** Dependencies not met yet (a blocked job's attempts are released at zero). */
  unmet_dependencies: number;
  skip_reason: string | null;
  pipeline_id: string | null;
  /** The schedule that submitted the job, and the slot it was for (schedules/). */
  schedule_id: string | null;
  scheduled_for: Date | null;
  /** Its own retention once ended, in seconds (null: the server's), pinned, keep_last (migration 0021). */
  retention_seconds: number | null;
  pinned: boolean;
  keep_last: number | null;
  /** created_at as PostgreSQL prints it: microsecond precision, for exact cursors. */
  created_cursor: string;
}

export const JOB_COLUMNS = `j.id, j.name, j.type, j.status, j.command, j.image, j.container_user, j.env, j.secrets, j.labels, j.resources, j.constraints, j.unsatisfiable, j.priority,
  j.max_attempts, j.retry, j.on_disconnect, j.log_limit::float8 AS log_limit, j.log_overflow, j.timeout_seconds, j.array_size, j.max_parallel, j.artifacts, j.paused, j.cancel_requested_at,
  j.created_at, j.updated_at, j.started_at, j.completed_at, j.created_by_token_id, j.created_by_name,
  j.unmet_dependencies, j.skip_reason, j.pipeline_id, j.schedule_id, j.scheduled_for,
  j.retention_seconds::float8 AS retention_seconds, j.pinned, j.keep_last,
  j.created_at::text AS created_cursor`;

/** What a job waits for and takes from other jobs (dependency-store.ts). */
export interface JobLinks {
  depends_on: JobDependency[];
  inputs_from: JobInput[];
}

/**
 * A job's row as the API shows it; `outcome` from job-outcome-store (none yet for a job just
 * submitted), `links` from dependency-store.
 */
export function toJob(
  row: JobRow,
  files: JobFile[],
  outcome: JobOutcome = { runners: [], runner_count: 0, failure: null },
  links: JobLinks = { depends_on: [], inputs_from: [] },
): Job {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    status: row.status,
    command: row.command,
    image: row.image,
    user: row.container_user,
    env: row.env,
    secrets: row.secrets,
    labels: row.labels,
    resources: row.resources,
    constraints: (row.constraints ?? []).map(formatConstraint),
    unsatisfiable: row.unsatisfiable,
    priority: row.priority,
    max_attempts: row.max_attempts,
    retry: row.retry,
    on_disconnect: row.on_disconnect,
    log_limit: row.log_limit,
    log_overflow: row.log_overflow,
    timeout_seconds: row.timeout_seconds,
    array_size: row.array_size,
    max_parallel: row.max_parallel,
    files,
    artifacts: row.artifacts,
    depends_on: links.depends_on,
    inputs_from: links.inputs_from,
    skip_reason: row.skip_reason,
    pipeline_id: row.pipeline_id,
    schedule_id: row.schedule_id,
    scheduled_for: row.scheduled_for?.toISOString() ?? null,
    retention: row.retention_seconds === null ? null : formatDurationSeconds(row.retention_seconds),
    pinned: row.pinned,
    keep_last: row.keep_last,
    paused: row.paused,
    created_by: row.created_by_name === null ? null : { token_id: row.created_by_token_id, name: row.created_by_name },
    outcome,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}

export interface NewJob {
  name: string;
  type: JobType;
  command: string | string[];
  image: string | null;
  /** A container job's --user. */
  container_user: string | null;
  env: Record<string, string>;
  secrets: Record<string, string>;
  labels: Record<string, string>;
  resources: ResourceRequest;
  /** Parsed at submit; null when the job has none. */
  constraints: ParsedConstraint[] | null;
  unsatisfiable: boolean;
  priority: number;
  max_attempts: number;
  retry: JobRetry | null;
  on_disconnect: JobOnDisconnect | null;
  log_limit: number | null;
  log_overflow: LogOverflow | null;
  timeout_seconds: number | null;
  array_size: number;
  max_parallel: number | null;
  artifacts: string[];
  files: JobFile[];
  retention_seconds: number | null;
  pinned: boolean;
  keep_last: number | null;
  /** The client's Idempotency-Key and the sha256 of its request, when it sent one. */
  idempotency?: { key: string; requestSha256: string };
  /** The submitting token, and its name now. */
  createdBy: { tokenId: string; name: string } | null;
  /** How many dependencies it waits for: with any, the job and its attempts start `blocked`. */
  dependencyCount: number;
  /** The pipeline request it came in, and its place there. */
  pipeline: { id: string; position: number } | null;
  /** The schedule firing it and the slot: one job per pair (a repeat inserts nothing, returns null). */
  origin?: JobOrigin;
}

/** What submitted a job other than a request: a schedule's fire for one slot. */
export interface JobOrigin {
  scheduleId: string;
  scheduledFor: Date;
}

/** An upstream artifact a claimed task's job takes (`inputs_from`), before its glob is matched. */
export interface UpstreamArtifact extends JobFileWithMeta {
  job_id: string;
  /** The element it is for; null when it is for every element. */
  index: number | null;
  glob: string;
  /** The directory it lands in; null for the workspace's root. */
  prefix: string | null;
}

export interface JobListFilter {
  statuses?: JobStatus[];
  namePrefix?: string;
  label?: { key: string; value: string };
  /** Case-insensitive substring of the name. */
  nameContains?: string;
  createdAfter?: string;
  createdBefore?: string;
  after?: { createdCursor: string; id: string };
  limit: number;
}

/** LIKE's wildcards and its escape character, taken literally. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** SQL for jobs. Task rows are written here only when a job is born; after that, task-store owns them. */
export const jobStore = {
  /**
   * Inserts the job, one pending task per array element, and its input files, in one statement
   * (data-modifying CTEs), so a submit without files is one round trip with no transaction of
   * its own. With an idempotency key already taken, nothing is inserted and null is returned
   * (the unique index decides, so two racing submissions with one key create one job); so too
   * with a schedule's slot already fired (`origin`: one job per schedule and slot).
   */
  async insert(db: Queryable, job: NewJob): Promise<JobRow | null> {
    const { rows } = await db.query<JobRow>(
      `WITH j AS (
         INSERT INTO jobs AS j (name, type, command, image, env, labels, priority, max_attempts, timeout_seconds,
                                array_size, artifacts, idempotency_key, request_sha256, created_by_token_id,
                                created_by_name, secrets, container_user, resources, constraints, unsatisfiable,
                                unmet_dependencies, status, pipeline_id, schedule_id, scheduled_for,
                                pipeline_position, retry, on_disconnect, max_parallel, log_limit, log_overflow,
                                retention_seconds, pinned, keep_last)
         VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $14, $15, $16, $17,
                 $18::jsonb, $19, $20::jsonb, $21::jsonb, $22,
                 $23, CASE WHEN $23::integer > 0 THEN 'blocked' ELSE 'queued' END, $24, $25, $26, $27,
                 $28::jsonb, $29::jsonb, $30, $31, $32, $33, $34, $35)
         ON CONFLICT ${job.origin ? '(schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL' : '(idempotency_key) WHERE idempotency_key IS NOT NULL'} DO NOTHING
         RETURNING ${JOB_COLUMNS}
       ), elements AS (
         INSERT INTO tasks (job_id, index, attempt, priority, labels, status, limited)
         SELECT j.id, i, 1, $7, $6::jsonb, CASE WHEN $23::integer > 0 THEN 'blocked' ELSE 'pending' END,
                $30::integer IS NOT NULL
           FROM j, generate_series(0, $10::integer - 1) AS i
       ), inputs AS (
         INSERT INTO job_files (job_id, file_id, path)
         SELECT j.id, u.f, u.p FROM j, unnest($12::uuid[], $13::text[]) WITH ORDINALITY AS u(f, p, n) ORDER BY u.n
       )
       SELECT * FROM j`,
      [
        job.name,
        job.type,
        JSON.stringify(job.command),
        job.image,
        JSON.stringify(job.env),
        JSON.stringify(job.labels),
        job.priority,
        job.max_attempts,
        job.timeout_seconds,
        job.array_size,
        JSON.stringify(job.artifacts),
        job.files.map((f) => f.file_id),
        job.files.map((f) => f.path),
        job.idempotency?.key ?? null,
        job.idempotency?.requestSha256 ?? null,
        job.createdBy?.tokenId ?? null,
        job.createdBy?.name ?? null,
        JSON.stringify(job.secrets),
        job.container_user,
        JSON.stringify(job.resources),
        job.constraints === null ? null : JSON.stringify(job.constraints),
        job.unsatisfiable,
        job.dependencyCount,
        job.pipeline?.id ?? null,
        job.origin?.scheduleId ?? null,
        job.origin?.scheduledFor ?? null,
        job.pipeline?.position ?? null,
        job.retry === null ? null : JSON.stringify(job.retry),
        job.on_disconnect === null ? null : JSON.stringify(job.on_disconnect),
        job.max_parallel,
        job.log_limit,
        job.log_overflow,
        job.retention_seconds,
        job.pinned,
        job.keep_last,
      ],
    );
    return rows[0] ?? null;
  },

  /** The job an idempotency key created, with the sha256 of the request that created it. */
  async byIdempotencyKey(db: Queryable, key: string): Promise<(JobRow & { request_sha256: string }) | null> {
    const { rows } = await db.query<JobRow & { request_sha256: string }>(
      `SELECT ${JOB_COLUMNS}, j.request_sha256 FROM jobs j WHERE j.idempotency_key = $1`,
      [key],
    );
    return rows[0] ?? null;
  },

  /** The job a schedule submitted for a slot. */
  async bySchedule(db: Queryable, scheduleId: string, scheduledFor: Date): Promise<JobRow | null> {
    const { rows } = await db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.schedule_id = $1 AND j.scheduled_for = $2`,
      [scheduleId, scheduledFor],
    );
    return rows[0] ?? null;
  },

  async get(db: Queryable, id: string, options: { lock?: boolean } = {}): Promise<JobRow | null> {
    const { rows } = await db.query<JobRow>(
      prepared(`SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.id = $1 ${options.lock ? 'FOR NO KEY UPDATE' : ''}`),
      [id],
    );
    return rows[0] ?? null;
  },

  /** A pipeline's jobs in the order of its request. */
  async ofPipeline(db: Queryable, pipelineId: string): Promise<JobRow[]> {
    const { rows } = await db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.pipeline_id = $1 ORDER BY j.pipeline_position`,
      [pipelineId],
    );
    return rows;
  },

  async byIds(db: Queryable, ids: readonly string[]): Promise<JobRow[]> {
    const { rows } = await db.query<JobRow>(
      prepared(`SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.id = ANY($1::uuid[])`),
      [ids],
    );
    return rows;
  },

  /** Ids from `low` to `high` (an id prefix's range, see id-resolver.ts) with names, in id order. */
  async idsBetween(db: Queryable, low: string, high: string, limit: number): Promise<{ id: string; name: string }[]> {
    const { rows } = await db.query<{ id: string; name: string }>(
      'SELECT id, name FROM jobs WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3',
      [low, high, limit],
    );
    return rows;
  },

  async filesOf(db: Queryable, jobIds: readonly string[]): Promise<Map<string, JobFile[]>> {
    const byJob = new Map<string, JobFile[]>();
    if (jobIds.length === 0) return byJob;
    const { rows } = await db.query<{ job_id: string; file_id: string; path: string }>(
      prepared('SELECT job_id, file_id, path FROM job_files WHERE job_id = ANY($1::uuid[]) ORDER BY id'),
      [jobIds],
    );
    for (const row of rows) {
      const list = byJob.get(row.job_id) ?? [];
      list.push({ file_id: row.file_id, path: row.path });
      byJob.set(row.job_id, list);
    }
    return byJob;
  },

  /**
   * What claimed tasks take into their workspace, in one statement: their jobs' input files,
   * and the artifacts of upstream jobs their jobs take (`inputs_from`): of every succeeded
   * upstream element, or of the task's own element for `same` (an element succeeds at most
   * once). The caller matches the inputs' globs (upstream-inputs.ts). A claim of jobs without
   * inputs pays one empty index lookup in the same round trip, nothing more.
   */
  async claimInputsOf(
    db: Queryable,
    claimed: ReadonlyArray<{ job_id: string; index: number }>,
  ): Promise<{ files: Map<string, JobFileWithMeta[]>; upstream: UpstreamArtifact[] }> {
    const { rows } = await db.query<
      JobFileWithMeta & {
        job_id: string;
        size: string | number;
        index: number | null;
        glob: string | null;
        prefix: string | null;
      }
    >(
      `WITH claimed AS (
         SELECT DISTINCT job_id, index FROM unnest($1::uuid[], $2::integer[]) AS c(job_id, index)
       ), wanted AS (
         SELECT i.*, NULL::integer AS element FROM job_inputs i
          WHERE NOT i.same_element AND i.job_id IN (SELECT job_id FROM claimed)
         UNION ALL
         SELECT i.*, c.index FROM job_inputs i JOIN claimed c ON c.job_id = i.job_id WHERE i.same_element
       )
       SELECT * FROM (
         SELECT jf.job_id, NULL::integer AS index, NULL::text AS glob, NULL::text AS prefix,
                jf.file_id, jf.path, f.filename, f.size, f.sha256, 0 AS kind, jf.id AS o1, 0 AS o2
           FROM job_files jf JOIN files f ON f.id = jf.file_id
          WHERE jf.job_id IN (SELECT job_id FROM claimed)
         UNION ALL
         SELECT w.job_id, w.element, w.artifacts, w.path, a.file_id, a.path, f.filename, f.size, f.sha256,
                1, w.position, t.index
           FROM wanted w
           JOIN tasks t ON t.job_id = w.upstream_id AND t.status = 'succeeded'
                       AND (w.element IS NULL OR t.index = w.element)
           JOIN artifacts a ON a.task_id = t.id
           JOIN files f ON f.id = a.file_id
       ) inputs
       ORDER BY kind, job_id, o1, o2, path`,
      [claimed.map((c) => c.job_id), claimed.map((c) => c.index)],
    );
    const files = new Map<string, JobFileWithMeta[]>();
    const upstream: UpstreamArtifact[] = [];
    for (const row of rows) {
      const file = {
        file_id: row.file_id,
        path: row.path,
        filename: row.filename,
        size: Number(row.size),
        sha256: row.sha256,
      };
      if (row.glob === null) {
        const list = files.get(row.job_id) ?? [];
        list.push(file);
        files.set(row.job_id, list);
      } else {
        upstream.push({ ...file, job_id: row.job_id, index: row.index, glob: row.glob, prefix: row.prefix });
      }
    }
    return { files, upstream };
  },

  /**
   * What the claim's answer carries from each claimed job beyond its task rows: secrets, the
   * on_disconnect policy and the log limits, in one read. Jobs that set none of them are left out.
   */
  async runSettingsOf(db: Queryable, jobIds: readonly string[]): Promise<Map<string, JobRunSettings>> {
    const { rows } = await db.query<JobRunSettings & { id: string }>(
      prepared(`SELECT id, secrets, on_disconnect, log_limit::float8 AS log_limit, log_overflow FROM jobs
        WHERE id = ANY($1::uuid[])
          AND (secrets <> '{}'::jsonb OR on_disconnect IS NOT NULL OR log_limit IS NOT NULL OR log_overflow IS NOT NULL)`),
      [jobIds],
    );
    return new Map(rows.map(({ id, ...settings }) => [id, settings]));
  },

  /** The secrets map (environment variable → secret name) of each job that has one. */
  async secretsOf(db: Queryable, jobIds: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const { rows } = await db.query<{ id: string; secrets: Record<string, string> }>(
      prepared(`SELECT id, secrets FROM jobs WHERE id = ANY($1::uuid[]) AND secrets <> '{}'::jsonb`),
      [jobIds],
    );
    return new Map(rows.map((row) => [row.id, row.secrets]));
  },

  /**
   * Newest first, keyset-paged on (created_at, id) so a page costs the same at row 10 and at
   * row 1,000,000; jobs_created_idx / jobs_status_created_idx serve the order.
   */
  async list(db: Queryable, filter: JobListFilter): Promise<JobRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    // One status is an equality, which walks jobs_status_created_idx in the page's order;
    // `= ANY(array)` cannot, and the planner walks jobs_created_idx and filters instead.
    if (filter.statuses?.length === 1) where.push(`j.status = ${param(filter.statuses[0])}`);
    else if (filter.statuses?.length) where.push(`j.status = ANY(${param(filter.statuses)}::text[])`);
    if (filter.namePrefix) {
      where.push(`j.name LIKE ${param(escapeLike(filter.namePrefix) + '%')}`);
    }
    if (filter.label)
      where.push(`j.labels @> ${param(JSON.stringify({ [filter.label.key]: filter.label.value }))}::jsonb`);
    // A substring cannot use an index; it filters rows as the newest-first walk of
    // jobs_created_idx passes them, so a page still stops after `limit` matches.
    if (filter.nameContains) {
      where.push(`j.name ILIKE ${param('%' + escapeLike(filter.nameContains) + '%')}`);
    }
    // The time range bounds the same (created_at, id) index the order walks.
    if (filter.createdAfter) where.push(`j.created_at >= ${param(filter.createdAfter)}::timestamptz`);
    if (filter.createdBefore) where.push(`j.created_at < ${param(filter.createdBefore)}::timestamptz`);
    if (filter.after) {
      where.push(
        `(j.created_at, j.id) < (${param(filter.after.createdCursor)}::timestamptz, ${param(filter.after.id)}::uuid)`,
      );
    }
    const { rows } = await db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs j
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY j.created_at DESC, j.id DESC
        LIMIT ${param(filter.limit)}`,
      params,
    );
    return rows;
  },

  async setPaused(db: Queryable, id: string, paused: boolean): Promise<void> {
    await db.query('UPDATE jobs SET paused = $2, updated_at = now() WHERE id = $1', [id, paused]);
  },

  async markCancelRequested(db: Queryable, id: string): Promise<void> {
    await db.query(
      'UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() WHERE id = $1',
      [id],
    );
  },

  async clearCancelRequested(db: Queryable, id: string): Promise<void> {
    await db.query('UPDATE jobs SET cancel_requested_at = NULL, updated_at = now() WHERE id = $1', [id]);
  },

  /**
   * Recomputes a job's status from the latest attempt of each element. Callers hold the job's
   * row lock (jobStore.get with lock), so two tasks of one job ending together cannot both
   * compute from a view that misses the other.
   *
   * While any element is live the status needs only two yes/no answers (a live task? a held
   * one?), read from tasks_one_live_attempt_idx; the outcome, which needs every element's latest
   * attempt, is counted only once nothing is live (the one-time filter skips that scan before),
   * so draining an array job is not quadratic in its size.
   * A retry attempt is inserted only after its previous attempt ended, so "a live task" over all
   * attempts is the same as over the latest ones. A job with dependencies not met is `blocked`,
   * and one a dependency skipped ends `skipped` (dependency-store.ts sets both).
   * `was_ended` says whether the job had ended before this refresh.
   */
  async refreshStatus(db: Queryable, id: string): Promise<JobRow & { was_ended: boolean }> {
    const { rows } = await db.query<JobRow & { was_ended: boolean }>(
      `WITH live AS (
         SELECT EXISTS (SELECT 1 FROM tasks WHERE job_id = $1
                         AND status IN ('blocked', 'pending', 'assigned', 'running')) AS remains
       ), counts AS (
         SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                count(*) FILTER (WHERE status IN ('failed', 'timed_out', 'lost')) AS failed,
                count(*) AS total
           FROM (SELECT DISTINCT ON (index) status FROM tasks
                  WHERE job_id = $1 AND NOT (SELECT remains FROM live)
                  ORDER BY index, attempt DESC) latest
       ), next AS (
         SELECT CASE
                  WHEN l.remains THEN CASE
                    WHEN j0.cancel_requested_at IS NOT NULL THEN 'cancelled'
                    WHEN j0.unmet_dependencies > 0 THEN 'blocked'
                    WHEN j0.paused THEN 'paused'
                    WHEN j0.started_at IS NOT NULL THEN 'running'
                    WHEN EXISTS (SELECT 1 FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running')) THEN 'running'
                    ELSE 'queued' END
                  WHEN j0.skip_reason IS NOT NULL THEN 'skipped'
                  WHEN c.succeeded = c.total THEN 'succeeded'
                  WHEN j0.cancel_requested_at IS NOT NULL THEN 'cancelled'
                  WHEN c.failed > 0 THEN 'failed'
                  ELSE 'cancelled'
                END AS status,
                NOT l.remains AS ended,
                j0.completed_at IS NOT NULL AS was_ended,
                l.remains AND (j0.started_at IS NOT NULL
                  OR EXISTS (SELECT 1 FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running'))) AS started
           FROM live l, counts c, jobs j0 WHERE j0.id = $1
       )
       UPDATE jobs j SET
         status = next.status,
         started_at = CASE WHEN next.started THEN coalesce(j.started_at, now()) ELSE j.started_at END,
         completed_at = CASE WHEN next.ended THEN coalesce(j.completed_at, now()) ELSE NULL END,
         updated_at = now()
        FROM next WHERE j.id = $1
       RETURNING ${JOB_COLUMNS}, next.was_ended`,
      [id],
    );
    return rows[0]!;
  },

  /**
   * Jobs not ended whose tasks all have: their status refresh after the last ending was lost (a
   * database fault or a crash between that ending's commit and the refresh that follows it).
   */
  async endedButNotMarked(db: Queryable, limit = 100): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `SELECT j.id FROM jobs j
        WHERE j.status IN ('queued', 'running', 'paused')
          AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.status IN ('pending', 'assigned', 'running'))
        LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  },

  /** Whether any element of the job is live (pending, assigned or running), from tasks_one_live_attempt_idx. */
  async hasLiveTasks(db: Queryable, id: string): Promise<boolean> {
    return (await jobStore.withoutLiveTasks(db, [id])).length === 0;
  },

  /** Of these jobs, the ones with no live task (hasLiveTasks for many, in one statement). */
  async withoutLiveTasks(db: Queryable, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query<{ id: string }>(
      prepared(`SELECT j.id FROM unnest($1::uuid[]) AS j(id)
        WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = j.id AND status IN ('pending', 'assigned', 'running'))`),
      [ids],
    );
    return rows.map((r) => r.id);
  },

  /**
   * After a claim: queued jobs of the claimed tasks become running. Run outside the claim's
   * transaction on purpose: taking job locks there would invert the lock order that cancel
   * uses (job, then its tasks) and risk deadlocks on the hottest path. The ids of the jobs it
   * started.
   */
  async markStarted(db: Queryable, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query<{ id: string }>(
      prepared(`UPDATE jobs j SET status = 'running', started_at = coalesce(j.started_at, now()), updated_at = now()
        WHERE j.id = ANY($1::uuid[]) AND j.status = 'queued'
       RETURNING j.id`),
      [ids],
    );
    return rows.map((row) => row.id);
  },

  async countByStatus(db: Queryable): Promise<Record<JobStatus, number>> {
    const { rows } = await db.query<{ status: JobStatus; n: number }>(
      'SELECT status, count(*)::integer AS n FROM jobs GROUP BY status',
    );
    const counts: Record<JobStatus, number> = {
      blocked: 0,
      skipped: 0,
      queued: 0,
      running: 0,
      paused: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  },
};
