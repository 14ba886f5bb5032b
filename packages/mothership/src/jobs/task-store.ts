import type { AssignedGpu, JobType, ResourceRequest, RetryDecision, Task, TaskStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';

export interface TaskRow {
  id: string;
  job_id: string;
  index: number;
  attempt: number;
  status: TaskStatus;
  priority: number;
  labels: Record<string, string>;
  runner_id: string | null;
  exit_code: number | null;
  reason: string | null;
  error: string | null;
  cancel_requested_at: Date | null;
  available_at: Date;
  deadline_at: Date | null;
  created_at: Date;
  assigned_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
  log_batches: number;
  log_lines: number;
  gpus: AssignedGpu[];
  /** The signal that killed the process (migration 0018). */
  signal: string | null;
  /** Why a failed attempt was retried or not (retry-decision.ts). */
  retry_decision: RetryDecision | null;
}

const TASK_COLUMNS = `t.id, t.job_id, t.index, t.attempt, t.status, t.priority, t.labels, t.runner_id, t.exit_code,
  t.reason, t.error, t.cancel_requested_at, t.available_at, t.deadline_at, t.created_at, t.assigned_at,
  t.started_at, t.completed_at, t.log_batches, t.log_lines, t.gpus, t.signal, t.retry_decision`;

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    job_id: row.job_id,
    index: row.index,
    attempt: row.attempt,
    status: row.status,
    runner_id: row.runner_id,
    exit_code: row.exit_code,
    reason: row.reason,
    error: row.error,
    cancel_requested: row.cancel_requested_at !== null,
    gpus: row.gpus,
    signal: row.signal ?? null,
    retry_decision: row.retry_decision ?? null,
    created_at: row.created_at.toISOString(),
    available_at: row.available_at.toISOString(),
    assigned_at: row.assigned_at?.toISOString() ?? null,
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}

/** A claimed task joined with what its runner needs from the job. */
export interface ClaimedRow extends TaskRow {
  job_name: string;
  type: JobType;
  command: string | string[];
  image: string | null;
  container_user: string | null;
  env: Record<string, string>;
  artifacts: string[];
  timeout_seconds: number | null;
  array_size: number;
  resources: ResourceRequest;
}

export interface TaskEnding {
  status: TaskStatus;
  exitCode?: number | null;
  reason?: string | null;
  error?: string | null;
  signal?: string | null;
  retryDecision?: RetryDecision | null;
}

/** SQL for task rows (attempts): the claim, fenced transitions, retries, and what maintenance scans. */
export const taskStore = {
  async get(db: Queryable, id: string, options: { lock?: boolean } = {}): Promise<TaskRow | null> {
    const { rows } = await db.query<TaskRow>(
      prepared(`SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.id = $1 ${options.lock ? 'FOR UPDATE' : ''}`),
      [id],
    );
    return rows[0] ?? null;
  },

  /** Ids from `low` to `high` (an id prefix's range), named by their job, element and attempt. */
  async idsBetween(db: Queryable, low: string, high: string, limit: number): Promise<{ id: string; name: string }[]> {
    const { rows } = await db.query<{ id: string; name: string }>(
      `SELECT t.id, j.name || '[' || t.index || '] attempt ' || t.attempt AS name
         FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.id BETWEEN $1 AND $2 ORDER BY t.id LIMIT $3`,
      [low, high, limit],
    );
    return rows;
  },

  async jobIdOf(db: Queryable, id: string): Promise<string | null> {
    const { rows } = await db.query<{ job_id: string }>(prepared('SELECT job_id FROM tasks WHERE id = $1'), [id]);
    return rows[0]?.job_id ?? null;
  },

  /** The latest attempt of every element of these jobs. */
  async latestOfJobs(db: Queryable, jobIds: readonly string[]): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `SELECT DISTINCT ON (t.job_id, t.index) ${TASK_COLUMNS} FROM tasks t
        WHERE t.job_id = ANY($1::uuid[]) ORDER BY t.job_id, t.index, t.attempt DESC`,
      [jobIds],
    );
    return rows;
  },

  async ofJob(db: Queryable, jobId: string): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.job_id = $1 ORDER BY t.index, t.attempt`,
      [jobId],
    );
    return rows;
  },

  /**
   * THE claim, one call of borg_claim (migrations 0005, 0008, 0009, 0011): lock the runner's row (claims by one
   * runner queue up there, which keeps it under its capacity), count its live tasks, take up to
   * its free capacity (and at most `max`) of pending tasks in priority-then-FIFO order among
   * those it may run (labels, constraints, of `jobTypes` only when given) whose resource requests
   * fit what the runner has free, give each the GPUs it asks for, and assign them, all on the
   * database's clock. A draining or offline runner gets nothing.
   *
   * `FOR UPDATE SKIP LOCKED` makes concurrent claimers step over rows another claim is
   * taking instead of queueing behind it, so no task is claimed twice and no claimer waits.
   * The walk follows tasks_claim_idx (priority DESC, available_at, index, id WHERE pending), so
   * its cost is the number of rows skipped (paused jobs, labels not carried), not the queue's size.
   */
  async claim(db: Queryable, runnerId: string, max: number, jobTypes?: readonly JobType[]): Promise<ClaimedRow[]> {
    const { rows } = await db.query<ClaimedRow>(
      prepared(`SELECT ${TASK_COLUMNS}, c.job_name, c.type, c.command, c.image, c.container_user, c.env, c.artifacts,
              c.timeout_seconds, c.array_size, c.resources
         FROM borg_claim($1, $2, $3::text[]) c CROSS JOIN LATERAL (SELECT (c.task).*) t`),
      [runnerId, max, jobTypes ? [...jobTypes] : null],
    );
    // RETURNING has no order; hand tasks over in the order they were picked.
    return rows.sort(
      (a, b) =>
        b.priority - a.priority || +a.available_at - +b.available_at || a.index - b.index || a.id.localeCompare(b.id),
    );
  },

  /** assigned → pending for tasks whose claim answer was lost (see task-states.ts). */
  async release(db: Queryable, runnerId: string, ids: readonly string[]): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET status = 'pending', runner_id = NULL, assigned_at = NULL, deadline_at = NULL, gpus = '[]'
        WHERE t.id::text = ANY($2::text[]) AND t.runner_id = $1 AND t.status = 'assigned'
       RETURNING ${TASK_COLUMNS}`,
      [runnerId, ids],
    );
    return rows;
  },

  /**
   * A runner's held tasks with what a heartbeat answer needs of each (its cancel flag, and
   * whether it has been held longer than the grace), in one read.
   */
  async heldForHeartbeat(
    db: Queryable,
    runnerId: string,
    graceSeconds: number,
  ): Promise<Array<{ id: string; status: 'assigned' | 'running'; cancel_requested: boolean; past_grace: boolean }>> {
    const { rows } = await db.query<{
      id: string;
      status: 'assigned' | 'running';
      cancel_requested: boolean;
      past_grace: boolean;
    }>(
      `SELECT t.id, t.status, t.cancel_requested_at IS NOT NULL AS cancel_requested,
              coalesce(t.started_at, t.assigned_at) < now() - make_interval(secs => $2::integer) AS past_grace
         FROM tasks t WHERE t.runner_id = $1 AND t.status IN ('assigned', 'running')`,
      [runnerId, graceSeconds],
    );
    return rows;
  },

  async markRunning(db: Queryable, id: string): Promise<TaskRow> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET status = 'running', started_at = now(),
              deadline_at = now() + make_interval(secs => (SELECT timeout_seconds FROM jobs WHERE id = t.job_id))
        WHERE t.id = $1 RETURNING ${TASK_COLUMNS}`,
      [id],
    );
    return rows[0]!;
  },

  /**
   * The two reports every task makes, as one conditional statement each: `running` from
   * `assigned`, `succeeded` from `running`, and only by the runner holding the task. Null when
   * the task is not in that state or not this runner's (a repeat, a stale or a refused report:
   * the caller's full path then says which). The conditions are checked again on the row's
   * latest version if another transaction held it, so a server ending that committed first wins.
   */
  async advance(
    db: Queryable,
    id: string,
    runnerId: string,
    report: { status: 'running' } | { status: 'succeeded'; exitCode: number | null; error: string | null },
  ): Promise<TaskRow | null> {
    const { rows } =
      report.status === 'running'
        ? await db.query<TaskRow>(
            prepared(`UPDATE tasks t SET status = 'running', started_at = now(),
                    deadline_at = now() + make_interval(secs => (SELECT timeout_seconds FROM jobs WHERE id = t.job_id))
              WHERE t.id = $1 AND t.runner_id = $2 AND t.status = 'assigned' RETURNING ${TASK_COLUMNS}`),
            [id, runnerId],
          )
        : await db.query<TaskRow>(
            prepared(`UPDATE tasks t SET status = 'succeeded', exit_code = $3, reason = NULL, error = $4, completed_at = now()
              WHERE t.id = $1 AND t.runner_id = $2 AND t.status = 'running' RETURNING ${TASK_COLUMNS}`),
            [id, runnerId, report.exitCode, report.error],
          );
    return rows[0] ?? null;
  },

  /**
   * `advance` for many of one runner's tasks in one statement: `running` from `assigned`, and
   * `succeeded` from `running` or, for a task whose `running` travelled in the same batch, from
   * `assigned`. The two lists name different tasks. Returns the rows that moved; a task missing
   * from the answer was not in the state its report follows (the caller's full path says why).
   */
  async advanceMany(
    db: Queryable,
    runnerId: string,
    running: readonly string[],
    succeeded: ReadonlyArray<{ id: string; exitCode: number | null; error: string | null; fromAssigned: boolean }>,
  ): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      prepared(`WITH started AS (
         UPDATE tasks t SET status = 'running', started_at = now(),
                deadline_at = now() + make_interval(secs => (SELECT timeout_seconds FROM jobs WHERE id = t.job_id))
           FROM unnest($2::uuid[]) AS r(id)
          WHERE t.id = r.id AND t.runner_id = $1 AND t.status = 'assigned'
          RETURNING ${TASK_COLUMNS}),
       ended AS (
         UPDATE tasks t SET status = 'succeeded', exit_code = r.exit_code, reason = NULL, error = r.error,
                started_at = coalesce(t.started_at, now()), completed_at = now()
           FROM unnest($3::uuid[], $4::integer[], $5::text[], $6::boolean[]) AS r(id, exit_code, error, from_assigned)
          WHERE t.id = r.id AND t.runner_id = $1 AND (t.status = 'running' OR (r.from_assigned AND t.status = 'assigned'))
          RETURNING ${TASK_COLUMNS})
       SELECT * FROM started UNION ALL SELECT * FROM ended`),
      [
        runnerId,
        running,
        succeeded.map((s) => s.id),
        succeeded.map((s) => s.exitCode),
        succeeded.map((s) => s.error),
        succeeded.map((s) => s.fromAssigned),
      ],
    );
    return rows;
  },

  async end(db: Queryable, id: string, ending: TaskEnding): Promise<TaskRow> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET status = $2, exit_code = $3, reason = $4, error = $5, completed_at = now(),
              signal = $6, retry_decision = $7::jsonb
        WHERE t.id = $1 RETURNING ${TASK_COLUMNS}`,
      [
        id,
        ending.status,
        ending.exitCode ?? null,
        ending.reason ?? null,
        ending.error ?? null,
        ending.signal ?? null,
        ending.retryDecision ? JSON.stringify(ending.retryDecision) : null,
      ],
    );
    return rows[0]!;
  },

  /** How an element's attempts before `attempt` ended, for its retry decision (tasks_attempt_key). */
  async earlierAttemptsOf(
    db: Queryable,
    jobId: string,
    index: number,
    attempt: number,
  ): Promise<Array<Pick<TaskRow, 'attempt' | 'status' | 'exit_code' | 'signal' | 'reason' | 'cancel_requested_at'>>> {
    const { rows } = await db.query<
      Pick<TaskRow, 'attempt' | 'status' | 'exit_code' | 'signal' | 'reason' | 'cancel_requested_at'>
    >(
      `SELECT attempt, status, exit_code, signal, reason, cancel_requested_at FROM tasks
        WHERE job_id = $1 AND index = $2 AND attempt < $3`,
      [jobId, index, attempt],
    );
    return rows;
  },

  /** The next attempt of an element, claimable after the backoff delay. */
  async insertRetry(db: Queryable, previous: TaskRow, delayMs: number): Promise<TaskRow> {
    const { rows } = await db.query<TaskRow>(
      `INSERT INTO tasks AS t (job_id, index, attempt, priority, labels, available_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, now() + make_interval(secs => $6::double precision / 1000))
       RETURNING ${TASK_COLUMNS}`,
      [
        previous.job_id,
        previous.index,
        previous.attempt + 1,
        previous.priority,
        JSON.stringify(previous.labels),
        delayMs,
      ],
    );
    return rows[0]!;
  },

  /**
   * Of the tasks a runner says it runs but no longer holds, those it may keep running: attempts
   * taken back from it while it was out of touch (runner_lost) of jobs that keep such copies
   * (on_disconnect keep), not being cancelled, whose element has not succeeded since.
   */
  async keptCopiesOf(db: Queryable, runnerId: string, ids: readonly string[]): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `SELECT t.id FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.id::text = ANY($2::text[]) AND t.runner_id = $1 AND t.status = 'lost' AND t.reason = 'runner_lost'
          AND (j.on_disconnect->>'keep')::boolean AND j.cancel_requested_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.job_id = t.job_id AND s.index = t.index AND s.status = 'succeeded')`,
      [runnerId, ids],
    );
    return rows.map((r) => r.id);
  },

  /** The element's attempts, newest first, locked (a take-over decides on them; see Queue.takeOver). */
  async elementAttemptsForUpdate(db: Queryable, jobId: string, index: number): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.job_id = $1 AND t.index = $2 ORDER BY t.attempt DESC FOR UPDATE`,
      [jobId, index],
    );
    return rows;
  },

  /** Ends the element's live attempt because a kept copy of an earlier one succeeded first; it is not retried. */
  async supersede(db: Queryable, id: string, error: string): Promise<TaskRow> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET status = 'cancelled', reason = 'superseded', error = $2, completed_at = now(),
              cancel_requested_at = coalesce(t.cancel_requested_at, now())
        WHERE t.id = $1 RETURNING ${TASK_COLUMNS}`,
      [id, error],
    );
    return rows[0]!;
  },

  /**
   * The element's next attempt, held and running at once on the runner whose kept copy of `lost`
   * succeeded: that process is this attempt from now on (its start is `lost`'s).
   */
  async insertTakeOver(db: Queryable, lost: TaskRow, attempt: number, runnerId: string): Promise<TaskRow> {
    const { rows } = await db.query<TaskRow>(
      `INSERT INTO tasks AS t (job_id, index, attempt, priority, labels, status, runner_id, assigned_at, started_at,
                               deadline_at)
       SELECT $1, $2, $3, $4, $5::jsonb, 'running', $6, now(), now(),
              now() + make_interval(secs => j.timeout_seconds)
         FROM jobs j WHERE j.id = $1
       RETURNING ${TASK_COLUMNS}`,
      [lost.job_id, lost.index, attempt, lost.priority, JSON.stringify(lost.labels), runnerId],
    );
    return rows[0]!;
  },

  /** Cancels a job's pending (and blocked) tasks at once; returns them. */
  async cancelPendingOfJob(db: Queryable, jobId: string): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET status = 'cancelled', reason = 'cancelled', completed_at = now(), cancel_requested_at = now()
        WHERE t.job_id = $1 AND t.status IN ('pending', 'blocked') RETURNING ${TASK_COLUMNS}`,
      [jobId],
    );
    return rows;
  },

  /** Flags a job's held tasks so their runners stop them; returns them. */
  async requestCancelOfHeld(db: Queryable, jobId: string): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET cancel_requested_at = coalesce(t.cancel_requested_at, now())
        WHERE t.job_id = $1 AND t.status IN ('assigned', 'running') RETURNING ${TASK_COLUMNS}`,
      [jobId],
    );
    return rows;
  },

  /** The latest attempt of each element of a job whose latest attempt did not succeed. */
  async latestUnsucceeded(db: Queryable, jobId: string): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `SELECT * FROM (
         SELECT DISTINCT ON (t.index) ${TASK_COLUMNS} FROM tasks t WHERE t.job_id = $1 ORDER BY t.index, t.attempt DESC
       ) latest WHERE status NOT IN ('succeeded', 'blocked', 'pending', 'assigned', 'running', 'skipped')`,
      [jobId],
    );
    return rows;
  },

  /**
   * A new attempt (claimable now, limited like its job by the tasks_limited_retry trigger) for
   * each element of the job whose latest attempt has one of `statuses`, among `indexes` (null:
   * all): one statement however many elements (array-actions.ts).
   */
  async retryElements(
    db: Queryable,
    jobId: string,
    indexes: readonly number[] | null,
    statuses: readonly TaskStatus[],
  ): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `WITH latest AS (
         SELECT DISTINCT ON (l.index) l.index, l.attempt, l.status, l.priority, l.labels
           FROM tasks l
          WHERE l.job_id = $1 AND ($2::integer[] IS NULL OR l.index = ANY ($2::integer[]))
          ORDER BY l.index, l.attempt DESC
       )
       INSERT INTO tasks AS t (job_id, index, attempt, priority, labels)
       SELECT $1, latest.index, latest.attempt + 1, latest.priority, latest.labels
         FROM latest WHERE latest.status = ANY ($3::text[])
       RETURNING ${TASK_COLUMNS}`,
      [jobId, indexes, statuses],
    );
    return rows;
  },

  /**
   * Cancels each live element of the job with one of `statuses` among `indexes` (null: all): one
   * not yet running (pending, blocked) at once; a held one is flagged, for its runner to stop.
   * One statement: a claim committing meanwhile is waited for and the row read again, so an
   * element claimed under it is flagged rather than missed.
   */
  async cancelElements(
    db: Queryable,
    jobId: string,
    indexes: readonly number[] | null,
    statuses: readonly TaskStatus[],
  ): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `UPDATE tasks t SET
         status = CASE WHEN t.status IN ('pending', 'blocked') THEN 'cancelled' ELSE t.status END,
         reason = CASE WHEN t.status IN ('pending', 'blocked') THEN 'cancelled' ELSE t.reason END,
         completed_at = CASE WHEN t.status IN ('pending', 'blocked') THEN now() ELSE t.completed_at END,
         cancel_requested_at = coalesce(t.cancel_requested_at, now())
        WHERE t.job_id = $1 AND t.status = ANY ($3::text[])
          AND ($2::integer[] IS NULL OR t.index = ANY ($2::integer[]))
       RETURNING ${TASK_COLUMNS}`,
      [jobId, indexes, statuses],
    );
    return rows;
  },

  async heldByRunner(db: Queryable, runnerId: string): Promise<TaskRow[]> {
    const { rows } = await db.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks t WHERE t.runner_id = $1 AND t.status IN ('assigned', 'running')`,
      [runnerId],
    );
    return rows;
  },

  async cancelRequestedOfRunner(db: Queryable, runnerId: string): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      prepared(
        `SELECT id FROM tasks WHERE runner_id = $1 AND status IN ('assigned', 'running') AND cancel_requested_at IS NOT NULL`,
      ),
      [runnerId],
    );
    return rows.map((r) => r.id);
  },

  /** Held tasks past their deadline by more than the grace the solder gets to enforce it first. */
  async pastDeadline(db: Queryable, graceSeconds: number, limit = 500): Promise<{ id: string; job_id: string }[]> {
    const { rows } = await db.query<{ id: string; job_id: string }>(
      `SELECT id, job_id FROM tasks
        WHERE status IN ('assigned', 'running') AND deadline_at < now() - make_interval(secs => $1::integer)
        ORDER BY deadline_at LIMIT $2`,
      [graceSeconds, limit],
    );
    return rows;
  },

  /** Held tasks of runners that are offline (the reaper turns each into `lost`). */
  async heldByOfflineRunners(db: Queryable, limit = 500): Promise<{ id: string; job_id: string }[]> {
    const { rows } = await db.query<{ id: string; job_id: string }>(
      `SELECT t.id, t.job_id FROM tasks t JOIN runners r ON r.id = t.runner_id
        WHERE r.status = 'offline' AND t.status IN ('assigned', 'running') LIMIT $1`,
      [limit],
    );
    return rows;
  },

  /** Whether a pending task became claimable in the window (retry backoffs ending). */
  async becameAvailableBetween(db: Queryable, fromExclusive: Date, toInclusive: Date): Promise<boolean> {
    const { rows } = await db.query(
      `SELECT 1 FROM tasks WHERE status = 'pending' AND available_at > $1 AND available_at <= $2 LIMIT 1`,
      [fromExclusive, toInclusive],
    );
    return rows.length > 0;
  },

  /**
   * Pending tasks whose `available_at` passed since `since` (none when it is null), and the
   * database's clock, to pass as `since` next time.
   */
  async countBecameAvailableSince(db: Queryable, since: Date | null): Promise<{ now: Date; count: number }> {
    const { rows } = await db.query<{ now: Date; count: number }>(
      `SELECT now() AS now,
              (SELECT count(*)::integer FROM tasks
                WHERE status = 'pending' AND available_at <= now()
                  AND available_at > coalesce($1::timestamptz, now())) AS count`,
      [since],
    );
    return rows[0]!;
  },

  async countByStatus(db: Queryable): Promise<Record<TaskStatus, number>> {
    const { rows } = await db.query<{ status: TaskStatus; n: number }>(
      'SELECT status, count(*)::integer AS n FROM tasks GROUP BY status',
    );
    const counts: Record<TaskStatus, number> = {
      blocked: 0,
      skipped: 0,
      pending: 0,
      assigned: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
      timed_out: 0,
      lost: 0,
    };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  },

  async queueDepth(db: Queryable): Promise<{ depth: number; oldestSeconds: number }> {
    const { rows } = await db.query<{ depth: number; oldest: number | null }>(
      `SELECT count(*)::integer AS depth, extract(epoch FROM now() - min(t.available_at))::double precision AS oldest
         FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.status = 'pending' AND t.available_at <= now() AND NOT j.paused`,
    );
    return { depth: rows[0]?.depth ?? 0, oldestSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
  },

  /**
   * The same queue, split by the label set its tasks require (for /metrics), largest first.
   * Reads only pending rows (tasks_pending_available_idx), so its cost follows the queue, not
   * the table's history.
   */
  async queueDepthByLabels(
    db: Queryable,
    limit: number,
  ): Promise<Array<{ labels: Record<string, string>; depth: number; oldestSeconds: number }>> {
    const { rows } = await db.query<{ labels: Record<string, string>; depth: number; oldest: number }>(
      `SELECT t.labels, count(*)::integer AS depth,
              extract(epoch FROM now() - min(t.available_at))::double precision AS oldest
         FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.status = 'pending' AND t.available_at <= now() AND NOT j.paused
        GROUP BY t.labels ORDER BY depth DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ labels: r.labels, depth: r.depth, oldestSeconds: Math.max(0, r.oldest) }));
  },
};
