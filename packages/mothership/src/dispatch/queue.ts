import {
  type AppendLogsRequest,
  type AppendLogsResponse,
  type ClaimedTask,
  type JobFileWithMeta,
  type JobOnDisconnect,
  type JobType,
  parseDurationMs,
  type TakeOverResponse,
  type TaskStatus,
  type TaskStatusReport,
  type TaskStatusRequest,
  type TaskStatusResponse,
  type TaskStatusResult,
} from '@borg/protocol';

import type { Database, Queryable } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { BorgEvent, EventBus } from '../events/event-bus.ts';
import type { DownstreamChange } from '../jobs/dependency-store.ts';
import { downstreamEvents, refreshJob } from '../jobs/job-refresh.ts';
import { type JobRow, jobStore } from '../jobs/job-store.ts';
import { jobViews } from '../jobs/job-views.ts';
import { logStore, packLines, packWireLines } from '../jobs/log-store.ts';
import { type BackoffPolicy, backoffPolicyOf, retryDelayMs } from '../jobs/retry-backoff.ts';
import { failureOf, retryDecision } from '../jobs/retry-decision.ts';
import { canTransition, isTerminal, SERVER_REASONS, type ServerReason, TASK_TRANSITIONS } from '../jobs/task-states.ts';
import { type ClaimedRow, type TaskEnding, type TaskRow, taskStore, toTask } from '../jobs/task-store.ts';
import { upstreamInputsOf } from '../jobs/upstream-inputs.ts';
import { runnerStore } from '../runners/runner-store.ts';
import type { ResolvedSecrets } from '../secrets/secret-service.ts';
import { planBatch } from './status-batch.ts';
import type { TaskSecrets } from './task-secrets.ts';

/**
 * What a status report did: the task as it now is, whether it moved, the retry it earned, and
 * the jobs downstream that its job's ending moved.
 */
interface ReportOutcome {
  task: TaskRow;
  changed: boolean;
  retry: TaskRow | null;
  downstream?: DownstreamChange[];
}

/** The statuses a task ends in (no transition out of them). */
const TERMINAL_STATUSES = (Object.keys(TASK_TRANSITIONS) as TaskStatus[]).filter(isTerminal);
/** Tasks whose job appendLogs remembers; a task's log batches come many times a second while it runs. */
const TASK_JOB_CACHE_SIZE = 10_000;
/** How long the changes of a busy runner or job gather before its view is read and published once. */
const VIEW_EVENT_DELAY_MS = 50;

export interface QueueOptions {
  backoff: BackoffPolicy;
  /** The claim answer carries each task's secret values; logs are masked against them. */
  secrets: TaskSecrets;
  /** Told of claims and task endings after they commit (metrics); never consulted for decisions. */
  observer?: QueueObserver;
  /** BORG_TASK_LOG_LIMIT in bytes: a task's log limit when its job gives none (default 64 MiB). */
  logLimitBytes?: number;
}

const DEFAULT_LOG_LIMIT_BYTES = 64 * 1024 * 1024;

/** Watches the queue from outside without the queue knowing what for (the metrics implement it). */
export interface QueueObserver {
  /** Tasks just assigned to a runner (assigned_at set, on the database's clock). */
  claimed(tasks: readonly TaskRow[]): void;
  /** A task that reached a final state (succeeded, failed, cancelled, timed_out, lost). */
  ended(task: TaskRow): void;
}

/**
 * The queue from the runners' side: claims, status reports, logs, and the server's own endings
 * of held tasks (user actions on whole jobs are in job-actions.ts). Every change is one
 * transaction, and its events are published only after that transaction commits. Routes and
 * maintenance call this; this calls the stores.
 */
export class Queue {
  /** Runners and jobs whose view is to be published (publishRunner, publishJobLater). */
  private readonly runnersToPublish = new Set<string>();
  private readonly jobsToPublish = new Set<string>();
  /** Task id to job id, for the tasks whose logs arrive (bounded: the oldest entry goes first). */
  private readonly jobsOfTasks = new Map<string, string>();

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly options: QueueOptions,
  ) {}

  // --- the runner's side -------------------------------------------------------------------------

  /**
   * Claims up to `max` tasks for a runner (see taskStore.claim for why this is safe), with the
   * runner's cancel requests for the same answer. After the claim, everything the answer needs is
   * read side by side, so the hand-over costs one round of reads after the claim's commit.
   */
  async claim(
    runnerId: string,
    max: number,
    jobTypes?: readonly JobType[],
  ): Promise<{ items: ClaimedTask[]; cancelTaskIds: string[] }> {
    if (max <= 0) return { items: [], cancelTaskIds: [] };
    const rows = await taskStore.claim(this.db, runnerId, max, jobTypes);
    if (rows.length === 0) return { items: [], cancelTaskIds: [] };
    this.options.observer?.claimed(rows);

    const jobIds = [...new Set(rows.map((r) => r.job_id))];
    const [started, inputs, cancelTaskIds, settings] = await Promise.all([
      jobStore.markStarted(this.db, jobIds),
      jobStore.claimInputsOf(this.db, rows),
      taskStore.cancelRequestedOfRunner(this.db, runnerId),
      jobStore.runSettingsOf(this.db, jobIds),
    ]);
    const secrets = await this.options.secrets.forClaim(
      new Map([...settings].map(([jobId, { secrets: byEnv }]) => [jobId, byEnv])),
    );
    const files = inputs.files;
    this.bus.publishAll(rows.map((r) => ({ type: 'task.updated', task: toTask(r) })));
    // Only a job's first claim starts it. Its view (with its outcome: this runner) is read after
    // the answer has gone, not on the way to it; a running report coming meanwhile shares the read.
    for (const jobId of started) this.publishJobLater(jobId);
    this.publishRunner(runnerId);
    const items = rows.map((row) => ({
      ...toClaimedTask(
        row,
        [...(files.get(row.job_id) ?? []), ...upstreamInputsOf(inputs.upstream, row)],
        secrets.get(row.job_id) ?? { values: {}, missing: [] },
        settings.get(row.job_id)?.on_disconnect ?? null,
      ),
      log_limit: settings.get(row.job_id)?.log_limit ?? this.options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES,
      log_overflow: settings.get(row.job_id)?.log_overflow ?? 'truncate',
    }));
    return { items, cancelTaskIds };
  }

  /**
   * Puts claimed tasks back in the queue, unspent (assigned → pending), when the claim's answer
   * never reached the runner. Only tasks still `assigned` to that runner move.
   */
  async release(runnerId: string, taskIds: readonly string[]): Promise<number> {
    if (taskIds.length === 0) return 0;
    const rows = await taskStore.release(this.db, runnerId, taskIds);
    this.bus.publishAll(rows.map((t): BorgEvent => ({ type: 'task.updated', task: toTask(t) })));
    for (const row of rows) this.bus.publish({ type: 'tasks.available', count: 1, labels: row.labels });
    if (rows.length > 0) this.publishRunner(runnerId);
    return rows.length;
  }

  /** The runner's live tasks whose cancellation was requested. */
  cancelRequestsOf(runnerId: string): Promise<string[]> {
    return taskStore.cancelRequestedOfRunner(this.db, runnerId);
  }

  /**
   * A status report from a runner. The task id is the fencing token: only the runner holding
   * the task, while it is live, may move it, and only along the state machine. A repeat of the
   * current state is acknowledged and changes nothing; anything else is a 409.
   */
  async reportStatus(runnerId: string, taskId: string, report: TaskStatusRequest): Promise<TaskStatusResponse> {
    const outcome =
      (await this.advance(runnerId, taskId, report)) ?? (await this.reportInTransaction(runnerId, taskId, report));
    if (outcome.changed) {
      // Every ending looks again after its commit, also one that refreshed the job inside its own
      // transaction: that refresh could not see a success committing beside it, and that success,
      // checking before this commit, saw this task still live; without the second look the job
      // would stay `running`.
      const downstream = [...(outcome.downstream ?? [])];
      if (isTerminal(outcome.task.status)) downstream.push(...(await this.refreshAfterEnding(outcome.task.job_id)));
      await this.afterTaskChange(outcome.task, outcome.retry, downstream);
    }
    return { task: toTask(outcome.task), cancel_requested: outcome.task.cancel_requested_at !== null };
  }

  /**
   * A runner's batch of reports (status-batch.ts): the common ones in one statement, the rest
   * one by one as reportStatus applies them, each answered on its own in the batch's order. A
   * refusal answers its report and the batch goes on; a failure of the database fails the whole
   * batch, which the runner sends again (every report is idempotent).
   */
  async reportStatuses(runnerId: string, reports: readonly TaskStatusReport[]): Promise<TaskStatusResult[]> {
    const plan = planBatch(reports);
    const moved = await taskStore.advanceMany(this.db, runnerId, plan.running, plan.succeeded);
    const movedById = new Map(moved.map((row) => [row.id, row]));
    // plan.reports is in the batch's order, one per report, so results[i] answers reports[i].
    const results: TaskStatusResult[] = [];
    for (const planned of plan.reports) {
      const report = reports[planned.index]!;
      const row = movedById.get(report.task_id);
      if (planned.byStatement && row?.status === planned.byStatement) {
        results.push({ task_id: row.id, status: row.status, cancel_requested: row.cancel_requested_at !== null });
      } else {
        results.push(await this.reportOrRefusal(runnerId, report));
      }
    }
    // A `running` with its ending in the batch is answered as the ending is.
    plan.reports.forEach((planned, i) => {
      if (!planned.endingFollows) return;
      const ending = plan.reports.findIndex((p, j) => j > i && reports[p.index]!.task_id === reports[i]!.task_id);
      results[i] = results[ending]!;
    });
    await this.afterBatch(moved);
    return results;
  }

  /** One report of a batch on its own: its answer, or the refusal that answers it (a 4xx). */
  private async reportOrRefusal(runnerId: string, report: TaskStatusReport): Promise<TaskStatusResult> {
    const { task_id: taskId, ...status } = report;
    try {
      const { task, cancel_requested } = await this.reportStatus(runnerId, taskId, status);
      return { task_id: taskId, status: task.status, cancel_requested };
    } catch (error) {
      if (!(error instanceof BorgError) || error.status >= 500) throw error;
      return { task_id: taskId, error: { code: error.code, message: error.message } };
    }
  }

  /** What follows the batch's statement: the ended tasks' jobs looked at again, then the events. */
  private async afterBatch(moved: readonly TaskRow[]): Promise<void> {
    if (moved.length === 0) return;
    const endedJobs = [...new Set(moved.filter((t) => isTerminal(t.status)).map((t) => t.job_id))];
    const downstream: DownstreamChange[] = [];
    const refreshed = await jobStore.withoutLiveTasks(this.db, endedJobs);
    for (const jobId of refreshed) downstream.push(...(await this.refreshLocked(jobId)));
    // A job with tasks still live kept its status: its view (progress) is published a moment later, once.
    const unchanged = new Set(endedJobs.filter((id) => !refreshed.includes(id)));
    await this.afterTaskChanges(
      moved.map((task) => ({ task, retry: null })),
      downstream,
      unchanged,
    );
  }

  /**
   * The reports every task makes (`running`, then `succeeded`) are one statement each when they
   * follow the state they should, from the holder. Null for anything else, which takes the full
   * path (the job's id, then a transaction with the task's lock).
   */
  private async advance(runnerId: string, taskId: string, report: TaskStatusRequest): Promise<ReportOutcome | null> {
    if (report.status !== 'running' && report.status !== 'succeeded') return null;
    const task = await taskStore.advance(
      this.db,
      taskId,
      runnerId,
      report.status === 'running'
        ? { status: 'running' }
        : { status: 'succeeded', exitCode: report.exit_code ?? null, error: report.error ?? null },
    );
    return task && { task, changed: true, retry: null };
  }

  /** The full path: any report, checked against the state machine, which says why one is refused. */
  private async reportInTransaction(
    runnerId: string,
    taskId: string,
    report: TaskStatusRequest,
  ): Promise<ReportOutcome> {
    const jobId = await taskStore.jobIdOf(this.db, taskId);
    if (!jobId) throw notFound('task', taskId);
    return this.db.transaction(async (tx): Promise<ReportOutcome> => {
      // Lock order everywhere: the job, then its tasks. Only an ending that may earn a retry
      // locks the job here (the retry must not race a cancel). `running` and `succeeded` lock
      // the task alone, and the job's status is refreshed after the commit (refreshAfterEnding),
      // so the reports of an array job's tasks do not queue on the job's row.
      const locksJob = report.status !== 'running' && report.status !== 'succeeded';
      const job = locksJob ? await jobStore.get(tx, jobId, { lock: true }) : null;
      const task = await taskStore.get(tx, taskId, { lock: true });
      if (!task || (locksJob && !job)) throw notFound('task', taskId);
      assertHolder(task, runnerId);

      if (task.status === report.status) {
        const same = report.status === 'running' || task.exit_code === (report.exit_code ?? null);
        if (same) return { task, changed: false, retry: null };
      }
      if (isTerminal(task.status)) {
        throw new BorgError('STALE_TASK', `task ${taskId} already ended as ${task.status}${reasonSuffix(task)}`, {
          status: task.status,
          reason: task.reason,
        });
      }
      if (!canTransition(task.status, report.status)) {
        throw new BorgError('ILLEGAL_TRANSITION', `a task cannot go from ${task.status} to ${report.status}`, {
          from: task.status,
          to: report.status,
        });
      }
      if (report.status === 'running') {
        return { task: await taskStore.markRunning(tx, taskId), changed: true, retry: null };
      }

      const ending: TaskEnding = {
        status: report.status,
        exitCode: report.exit_code ?? null,
        error: report.error ?? null,
        signal: report.signal ?? null,
        reason: endingReason(report, task),
      };
      if (!job) return { task: await taskStore.end(tx, taskId, ending), changed: true, retry: null };
      return { ...(await this.endTask(tx, job, task, ending)), changed: true };
    });
  }

  /**
   * Stores one numbered batch of log lines. Batches are accepted in order only: a repeat of a
   * stored batch is acknowledged without storing it again, and a batch past the next expected
   * one is refused with the number to resend from, so the stored log is the output, in order,
   * exactly once.
   */
  async appendLogs(runnerId: string, taskId: string, batch: AppendLogsRequest): Promise<AppendLogsResponse> {
    const jobId = await this.jobOfTask(taskId);
    // The job's secret values are masked: the backstop to the solder's own masking.
    const masker = await this.options.secrets.maskerOf(this.db, jobId);
    const mask = masker ? (message: string) => masker.mask(message) : undefined;
    const packed = batch.packed
      ? packWireLines(batch.packed, mask)
      : packLines(mask ? batch.lines!.map((line) => ({ ...line, message: mask(line.message) })) : batch.lines!);
    const outcome = await logStore.append(this.db, {
      taskId,
      runnerId,
      seq: batch.seq,
      packed,
      terminalStatuses: TERMINAL_STATUSES,
      serverReasons: SERVER_REASONS,
      defaultLimitBytes: this.options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES,
    });
    if (!outcome) throw notFound('task', taskId);
    const { task, stored, lines } = outcome;
    if (!stored) {
      assertHolder(task, runnerId);
      // Lines still in flight when the runner itself ended the task are welcome; after the
      // server ended it (lost, server timeout) a newer attempt may be running, so they are not.
      if (isTerminal(task.status) && SERVER_REASONS.includes(task.reason as ServerReason)) {
        throw new BorgError('STALE_TASK', `task ${taskId} ended as ${task.status}${reasonSuffix(task)}`);
      }
      if (batch.seq > task.log_batches) {
        throw new BorgError('LOG_SEQUENCE_GAP', `expected log batch ${task.log_batches}, got ${batch.seq}`, {
          next_seq: task.log_batches,
        });
      }
      return { seq: batch.seq, stored: false, next_seq: task.log_batches, line_count: task.log_lines };
    }
    if (lines.length > 0) this.bus.publish({ type: 'task.log', task_id: taskId, lines });
    return { seq: batch.seq, stored: true, next_seq: task.log_batches + 1, line_count: task.log_lines + lines.length };
  }

  /** A task's job (it never changes), remembered so a log batch costs one statement (appendLogs). */
  private async jobOfTask(taskId: string): Promise<string> {
    const known = this.jobsOfTasks.get(taskId);
    if (known) return known;
    const jobId = await taskStore.jobIdOf(this.db, taskId);
    if (!jobId) throw notFound('task', taskId);
    if (this.jobsOfTasks.size >= TASK_JOB_CACHE_SIZE) this.jobsOfTasks.delete(this.jobsOfTasks.keys().next().value!);
    this.jobsOfTasks.set(taskId, jobId);
    return jobId;
  }

  /**
   * A copy its runner kept running while cut off (on_disconnect keep) has succeeded, but the
   * mothership took its attempt back meanwhile (`lost`, runner_lost) and may be running the
   * element elsewhere: the first success wins. Under the job's lock, the element's live attempt
   * (pending or held elsewhere) is superseded (cancelled, `superseded`, not retried; its runner
   * is told at once) and a new attempt, held by this runner and running, stands for the copy; the
   * solder sends the copy's log, artifacts and success under its id, as for any attempt. Terminal
   * rows stay as they were (the lost attempt included), and an element has one success at most.
   *
   * Refused (409 STALE_TASK; the solder drops the copy) when the element succeeded meanwhile, the
   * job is being cancelled or keeps no copies, or the attempt did not end lost with this runner;
   * 409 CONFLICT while this runner is offline (its next heartbeat brings it back).
   */
  async takeOver(runnerId: string, taskId: string): Promise<TakeOverResponse> {
    const jobId = await taskStore.jobIdOf(this.db, taskId);
    if (!jobId) throw notFound('task', taskId);
    const outcome = await this.db.transaction(async (tx) => {
      const job = await jobStore.get(tx, jobId, { lock: true });
      const lost = await taskStore.get(tx, taskId, { lock: true });
      if (!job || !lost) throw notFound('task', taskId);
      if (lost.runner_id !== runnerId)
        throw new BorgError('FORBIDDEN', `task ${taskId} is not assigned to this runner`);
      const refuse = (why: string) =>
        new BorgError('STALE_TASK', `task ${taskId} cannot be taken over: ${why}`, {
          status: lost.status,
          reason: lost.reason,
        });
      if (lost.status !== 'lost' || lost.reason !== 'runner_lost') {
        throw refuse(`it ended ${lost.status}${reasonSuffix(lost)}, not lost while its runner was cut off`);
      }
      if (!job.on_disconnect?.keep) throw refuse('its job does not keep copies (on_disconnect)');
      if (job.cancel_requested_at) throw refuse('its job is being cancelled');
      if ((await runnerStore.get(tx, runnerId))?.status === 'offline') {
        throw new BorgError('CONFLICT', 'this runner is offline until its next heartbeat');
      }
      const attempts = await taskStore.elementAttemptsForUpdate(tx, job.id, lost.index);
      if (attempts.some((t) => t.status === 'succeeded')) throw refuse('its element already succeeded');
      const live = attempts.find((t) => !isTerminal(t.status));
      const superseded =
        live &&
        (await taskStore.supersede(
          tx,
          live.id,
          `superseded: attempt ${lost.attempt}, kept running by its runner while cut off (on_disconnect keep), succeeded first`,
        ));
      const task = await taskStore.insertTakeOver(tx, lost, attempts[0]!.attempt + 1, runnerId);
      const { downstream } = await refreshJob(tx, job.id);
      return { task, superseded, downstream };
    });
    const { task, superseded, downstream } = outcome;
    const job = await jobStore.get(this.db, task.job_id);
    const events: BorgEvent[] = [{ type: 'task.updated', task: toTask(task) }];
    if (superseded) events.push({ type: 'task.updated', task: toTask(superseded) });
    if (job) events.push({ type: 'job.updated', job: await jobViews.one(this.db, job) });
    events.push(...(await downstreamEvents(this.db, downstream)));
    this.bus.publishAll(events);
    // The superseded copy's runner stops it now (its long-poll hears this) rather than at its next heartbeat.
    if (superseded?.runner_id) {
      this.bus.publish({ type: 'task.cancel_requested', runner_id: superseded.runner_id, task_id: superseded.id });
      this.publishRunner(superseded.runner_id);
    }
    this.publishRunner(runnerId);
    return { task: toTask(task) };
  }

  // --- the server's own decisions (reaper, timeouts, re-registration) --------------------------

  /** Ends a held task on the server's authority: lost runner, server-side timeout. */
  async endTaskByServer(taskId: string, ending: TaskEnding & { reason: ServerReason }): Promise<boolean> {
    const jobId = await taskStore.jobIdOf(this.db, taskId);
    if (!jobId) return false;
    let retry: TaskRow | null = null;
    const downstream: DownstreamChange[] = [];
    const ended = await this.db.transaction(async (tx) => {
      const job = await jobStore.get(tx, jobId, { lock: true });
      const task = await taskStore.get(tx, taskId, { lock: true });
      // Conditional: a completion that committed first wins, and this does nothing (F6).
      if (!job || !task || !canTransition(task.status, ending.status)) return null;
      const result = await this.endTask(tx, job, task, ending);
      retry = result.retry;
      downstream.push(...result.downstream);
      return result.task;
    });
    if (!ended) return false;
    // As for a runner's ending (reportStatus): a success of another task committing beside this
    // one saw this task live, and this transaction's refresh could not see that success.
    downstream.push(...(await this.refreshAfterEnding(jobId)));
    await this.afterTaskChange(ended, retry, downstream);
    if (ended.runner_id) {
      this.bus.publish({ type: 'task.cancel_requested', runner_id: ended.runner_id, task_id: ended.id });
    }
    return true;
  }

  /**
   * The job's status after one of its tasks ended without the job's lock. While another task of
   * the job is live the status cannot have changed, so nothing is written. Otherwise it is
   * recomputed under the job's lock. Each ender looks after its own commit, so of two tasks
   * ending together the later commit sees the other ended and refreshes: the job always ends.
   */
  private async refreshAfterEnding(jobId: string): Promise<DownstreamChange[]> {
    if (await jobStore.hasLiveTasks(this.db, jobId)) return [];
    return this.refreshLocked(jobId);
  }

  /** The job's status recomputed under its lock; the jobs downstream its ending moved. */
  private refreshLocked(jobId: string): Promise<DownstreamChange[]> {
    return this.db.transaction(async (tx) =>
      (await jobStore.get(tx, jobId, { lock: true })) ? (await refreshJob(tx, jobId)).downstream : [],
    );
  }

  /** Ends a task and, if the ending earns one, schedules the next attempt; refreshes the job. */
  private async endTask(
    tx: Queryable,
    job: JobRow,
    task: TaskRow,
    ending: TaskEnding,
  ): Promise<{ task: TaskRow; retry: TaskRow | null; downstream: DownstreamChange[] }> {
    const decision = await this.retryDecisionFor(tx, job, task, ending);
    const ended = await taskStore.end(tx, task.id, { ...ending, retryDecision: decision });
    let retry: TaskRow | null = null;
    if (decision?.retried) {
      const backoff = backoffPolicyOf(job.retry, this.options.backoff);
      retry = await taskStore.insertRetry(tx, task, retryDelayMs(backoff, task.attempt));
    }
    const { downstream } = await refreshJob(tx, job.id);
    return { task: ended, retry, downstream };
  }

  /** The job's retry rules applied to this ending (retry-decision.ts); reads the element's history only when they need it. */
  private async retryDecisionFor(tx: Queryable, job: JobRow, task: TaskRow, ending: TaskEnding) {
    const attempt = {
      attempt: task.attempt,
      status: ending.status,
      exitCode: ending.exitCode ?? null,
      signal: ending.signal ?? null,
      reason: ending.reason ?? null,
      cancelRequested: task.cancel_requested_at !== null || job.cancel_requested_at !== null,
    };
    if (!failureOf(attempt)) return null;
    const history = job.retry
      ? (await taskStore.earlierAttemptsOf(tx, job.id, task.index, task.attempt)).map((row) => ({
          attempt: row.attempt,
          status: row.status,
          exitCode: row.exit_code,
          signal: row.signal,
          reason: row.reason,
          cancelRequested: row.cancel_requested_at !== null,
        }))
      : [];
    return retryDecision(job, attempt, history);
  }

  private afterTaskChange(
    task: TaskRow,
    retry: TaskRow | null,
    downstream: readonly DownstreamChange[] = [],
  ): Promise<void> {
    return this.afterTaskChanges([{ task, retry }], downstream);
  }

  /** The events of tasks that moved (and the retries they earned): each job's view read once. */
  private async afterTaskChanges(
    changes: ReadonlyArray<{ task: TaskRow; retry: TaskRow | null }>,
    downstream: readonly DownstreamChange[] = [],
    viewsLater: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const events: BorgEvent[] = [];
    for (const { task, retry } of changes) {
      if (isTerminal(task.status)) this.options.observer?.ended(task);
      events.push({ type: 'task.updated', task: toTask(task) });
      if (retry) events.push({ type: 'task.updated', task: toTask(retry) });
    }
    // `running` never changes the job (the claim marked it started), so its view is not read again.
    const jobIds = [...new Set(changes.filter((c) => c.task.status !== 'running').map((c) => c.task.job_id))];
    const jobs = jobIds.length > 0 ? await jobStore.byIds(this.db, jobIds) : [];
    const viewsNow = jobs.filter((job) => !viewsLater.has(job.id));
    if (viewsNow.length > 0) {
      for (const job of await jobViews.of(this.db, viewsNow)) events.push({ type: 'job.updated', job });
    }
    for (const jobId of viewsLater) this.publishJobLater(jobId);
    const jobsById = new Map(jobs.map((job) => [job.id, job]));
    for (const { task } of changes) {
      const job = jobsById.get(task.job_id);
      if (!job || !task.runner_id || !isTerminal(task.status)) continue;
      // An attempt that held GPUs, CPUs or memory gave them back: a task waiting for them may fit
      // its runner now, and only that runner can tell (its long-poll would otherwise sleep on).
      if (task.gpus.length > 0 || hasRequests(job)) {
        events.push({ type: 'tasks.available', count: 1, labels: null, runnerId: task.runner_id });
      }
      // A held attempt of a job with max_parallel ended: one more of its elements may be claimed.
      if (job.max_parallel) events.push({ type: 'tasks.available', count: 1, labels: job.labels, jobType: job.type });
    }
    events.push(...(await downstreamEvents(this.db, downstream)));
    this.bus.publishAll(events);
    for (const { retry } of changes) {
      // A retry with no backoff is claimable now; delayed ones are announced by maintenance.
      if (retry && retry.available_at.getTime() <= Date.now()) {
        this.bus.publish({ type: 'tasks.available', count: 1, labels: retry.labels });
      }
    }
    const runnerIds = new Set(changes.map((c) => c.task.runner_id).filter((id) => id !== null));
    for (const runnerId of runnerIds) this.publishRunner(runnerId);
  }

  /**
   * A job's view after some of its tasks ended while others still run (its status is unchanged),
   * published once however many batches ended tasks meanwhile (publishLater).
   */
  private publishJobLater(jobId: string): void {
    this.publishLater(this.jobsToPublish, jobId, async () => {
      const job = await jobStore.get(this.db, jobId);
      return job && { type: 'job.updated', job: await jobViews.one(this.db, job) };
    });
  }

  /** A runner's view after its tasks changed, published once however many claims and reports changed it meanwhile. */
  private publishRunner(runnerId: string): void {
    this.publishLater(this.runnersToPublish, runnerId, async () => {
      const runner = await runnerStore.get(this.db, runnerId);
      return runner && { type: 'runner.updated', runner };
    });
  }

  /**
   * Reads a view VIEW_EVENT_DELAY_MS from now and publishes it, once for all the calls about the
   * same id meanwhile: a busy runner's or job's view changes several times a second, and only the
   * latest matters to its watchers. A failed read is dropped (the next change publishes the view
   * again); it is never worth failing a claim or a report for.
   */
  private publishLater(pending: Set<string>, id: string, read: () => Promise<BorgEvent | null>): void {
    if (pending.has(id)) return;
    pending.add(id);
    setTimeout(() => {
      pending.delete(id);
      read()
        .then((event) => event && this.bus.publish(event))
        .catch(() => undefined);
    }, VIEW_EVENT_DELAY_MS).unref();
  }
}

function toClaimedTask(
  row: ClaimedRow,
  files: JobFileWithMeta[],
  secrets: ResolvedSecrets,
  disconnect: JobOnDisconnect | null,
): ClaimedTask {
  return {
    id: row.id,
    job_id: row.job_id,
    job_name: row.job_name,
    index: row.index,
    attempt: row.attempt,
    status: row.status,
    type: row.type,
    command: row.command,
    image: row.image,
    user: row.container_user,
    resources: row.resources,
    gpus: row.gpus,
    env: {
      ...row.env,
      BORG_JOB_ID: row.job_id,
      BORG_TASK_ID: row.id,
      BORG_TASK_INDEX: String(row.index),
      BORG_ARRAY_SIZE: String(row.array_size),
      BORG_ATTEMPT: String(row.attempt),
    },
    secrets: secrets.values,
    missing_secrets: secrets.missing,
    labels: row.labels,
    timeout_seconds: row.timeout_seconds,
    files,
    artifacts: row.artifacts,
    on_disconnect: disconnect && {
      stop_after_seconds: disconnect.stop_after === null ? null : (parseDurationMs(disconnect.stop_after) ?? 0) / 1000,
      keep: disconnect.keep,
    },
  };
}

/**
 * Fencing: another runner's task is 403 (it was never yours); your own task that the server
 * took back (lost, timed out) or that already ended is 409 (stale).
 */
function assertHolder(task: Pick<TaskRow, 'id' | 'runner_id' | 'status' | 'reason'>, runnerId: string): void {
  if (task.runner_id !== runnerId) {
    throw new BorgError('FORBIDDEN', `task ${task.id} is not assigned to this runner`);
  }
  if (task.status === 'lost') {
    throw new BorgError('STALE_TASK', `task ${task.id} was taken back from this runner${reasonSuffix(task)}`, {
      status: task.status,
      reason: task.reason,
    });
  }
}

function endingReason(report: TaskStatusRequest, task: TaskRow): string | null {
  if (report.status === 'cancelled') {
    return task.cancel_requested_at ? 'cancelled' : (report.stopped_because ?? 'agent_stop');
  }
  if (report.status === 'timed_out') return 'timed_out';
  return null;
}

function reasonSuffix(task: Pick<TaskRow, 'reason'>): string {
  return task.reason ? ` (${task.reason})` : '';
}

function hasRequests(job: JobRow): boolean {
  return Object.keys(job.resources).length > 0;
}
