import { createHash } from 'node:crypto';

import {
  type Job,
  type JobPage,
  type JobWithTasks,
  type ListJobsQuery,
  type LogPage,
  type LogSearchDone,
  type LogSearchMatch,
  type LogSearchQuery,
  ROLE_TO_CHANGE_ANY_JOB,
  roleAtLeast,
  type Task,
  type TaskGpuSamples,
  type ValidCreateJobRequest,
} from '@borg/protocol';
import type { z } from 'zod';

import type { Principal } from '../auth/principal.ts';
import type { Database, Queryable } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { BorgEvent, EventBus } from '../events/event-bus.ts';
import { keysetPage } from '../paging.ts';
import { gpuSampleStore } from '../runners/gpu-sample-store.ts';
import { dependencyStore } from './dependency-store.ts';
import { insertJob, insertNeedsTransaction } from './job-insert.ts';
import { downstreamEvents, refreshJob } from './job-refresh.ts';
import { type JobOrigin, type JobRow, jobStore, toJob } from './job-store.ts';
import { jobViews } from './job-views.ts';
import { checkedSearch, searchJobLogs } from './log-search.ts';
import { logStore } from './log-store.ts';
import { judgeSatisfiability, placementDemandOf } from './satisfiability.ts';
import { startableAtOnce } from './startable-at-once.ts';
import { taskStore, toTask } from './task-store.ts';

type JobFilters = z.output<typeof ListJobsQuery>;

/**
 * What users do to jobs: submit, list and read them (with their tasks and logs), pause, resume,
 * cancel, retry. Each change is one
 * transaction under the job's row lock (the lock order everywhere is the job, then its tasks),
 * and its events are published after the commit. The runners' side is in queue.ts.
 */
export class JobActions {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
  ) {}

  /** Newest first, filtered, one keyset page at a time. */
  listJobs(filters: JobFilters): Promise<JobPage> {
    const { status, name, label, q, created_after, created_before } = filters;
    const separator = label?.indexOf('=') ?? -1;
    return keysetPage(
      filters,
      2,
      (limit, after) =>
        jobStore.list(this.db, {
          limit,
          statuses: status,
          namePrefix: name,
          label: label ? { key: label.slice(0, separator), value: label.slice(separator + 1) } : undefined,
          nameContains: q,
          createdAfter: created_after,
          createdBefore: created_before,
          after: after ? { createdCursor: after[0]!, id: after[1]! } : undefined,
        }),
      (row) => [row.created_cursor, row.id],
      (rows) => jobViews.of(this.db, rows),
    );
  }

  async getTask(id: string): Promise<Task> {
    const row = await taskStore.get(this.db, id);
    if (!row) throw notFound('task', id);
    return toTask(row);
  }

  /** The GPUs a task's attempt held, each with its samples over time. */
  async taskGpus(id: string): Promise<TaskGpuSamples> {
    if (!(await taskStore.get(this.db, id))) throw notFound('task', id);
    return { items: await gpuSampleStore.ofTask(this.db, id) };
  }

  /** A task's log lines after line `after` (-1: from the start), in order. */
  async taskLogs(id: string, after: number, limit: number): Promise<LogPage> {
    if (!(await taskStore.get(this.db, id))) throw notFound('task', id);
    const items = await logStore.page(this.db, id, after, limit);
    const last = items.at(-1);
    return { items, next_cursor: items.length === limit && last ? String(last.index) : null };
  }

  /** Searches the logs of every task of a job (log-search.ts); the pattern is checked before the job is looked up. */
  async searchLogs(id: string, query: LogSearchQuery): Promise<AsyncGenerator<LogSearchMatch | LogSearchDone>> {
    const pattern = checkedSearch(query);
    if (!(await jobStore.get(this.db, id))) throw notFound('job', id);
    return searchJobLogs(this.db, id, query, pattern);
  }

  async getJob(id: string): Promise<JobWithTasks> {
    const row = await jobStore.get(this.db, id);
    if (!row) throw notFound('job', id);
    const [tasks, job] = await Promise.all([taskStore.ofJob(this.db, id), jobViews.one(this.db, row)]);
    return { ...job, tasks: tasks.map(toTask) };
  }

  /**
   * Stores a job and its tasks (one per array element) and wakes runners that can take them.
   * A job no known runner could ever take is refused (422) or marked, as its `unsatisfiable`
   * policy says (satisfiability.ts).
   * With an idempotency key (the `Idempotency-Key` header), a repeat of the same request
   * returns the job the first one created (`created: false`) and creates nothing; the same key
   * with a different request is a 409.
   * With an `origin` (a schedule's fire), a slot already fired returns that slot's job
   * (`created: false`) and creates nothing.
   */
  async createJob(
    input: ValidCreateJobRequest,
    submitter: Principal,
    idempotencyKey?: string,
    origin?: JobOrigin,
  ): Promise<{ job: Job; created: boolean }> {
    const idempotency = idempotencyKey
      ? { key: idempotencyKey, requestSha256: createHash('sha256').update(JSON.stringify(input)).digest('hex') }
      : undefined;
    if (idempotency) {
      const earlier = await this.jobCreatedWith(idempotency);
      if (earlier) return { job: earlier, created: false };
    }
    const { unsatisfiable } = await judgeSatisfiability(this.db, placementDemandOf(input), input.unsatisfiable);
    // A job without files, secrets or dependencies is one statement (jobStore.insert); with
    // them, the checks and the insert share a transaction.
    const insert = (tx: Queryable) => insertJob(tx, input, { unsatisfiable, submitter, idempotency, origin });
    const inserted = await (insertNeedsTransaction(input) ? this.db.transaction(insert) : insert(this.db));
    if (!inserted && origin) {
      const fired = (await jobStore.bySchedule(this.db, origin.scheduleId, origin.scheduledFor))!;
      return { job: await jobViews.one(this.db, fired), created: false };
    }
    // Another request with the same key committed between the look-up and the insert.
    if (!inserted) return { job: (await this.jobCreatedWith(idempotency!))!, created: false };
    // A job without links has no outcome yet and its files are the request's: no read needed.
    const linked = input.depends_on.length > 0 || input.inputs_from.length > 0;
    const job = linked ? await jobViews.one(this.db, inserted.row) : toJob(inserted.row, input.files);
    this.bus.publishAll([
      { type: 'job.updated', job },
      ...(await downstreamEvents(
        this.db,
        inserted.downstream.filter((c) => c.id !== job.id),
      )),
    ]);
    if (job.status === 'queued') {
      this.bus.publish({
        type: 'tasks.available',
        count: startableAtOnce(job, job.array_size),
        labels: job.labels,
        jobType: job.type,
      });
    }
    return { job, created: true };
  }

  private async jobCreatedWith(idempotency: { key: string; requestSha256: string }): Promise<Job | null> {
    const row = await jobStore.byIdempotencyKey(this.db, idempotency.key);
    if (!row) return null;
    if (row.request_sha256 !== idempotency.requestSha256) {
      throw new BorgError('CONFLICT', 'this Idempotency-Key was already used to submit a different job');
    }
    return jobViews.one(this.db, row);
  }

  async pauseJob(id: string, actor: Principal): Promise<Job> {
    return this.changeJob(id, actor, async (tx, job) => {
      if (isJobEnded(job)) throw illegalJobAction('pause', job);
      await jobStore.setPaused(tx, id, true);
      return [];
    });
  }

  async resumeJob(id: string, actor: Principal): Promise<Job> {
    const job = await this.changeJob(id, actor, async (tx, row) => {
      if (isJobEnded(row) && !row.paused) throw illegalJobAction('resume', row);
      await jobStore.setPaused(tx, id, false);
      return [];
    });
    this.bus.publish({
      type: 'tasks.available',
      count: startableAtOnce(job, job.array_size),
      labels: job.labels,
      jobType: job.type,
    });
    return job;
  }

  /**
   * Pending (and blocked) tasks are cancelled at once; held ones are flagged and their runners
   * told. With `cascade`, every job downstream that has not ended is cancelled too, the farthest
   * first, so none of them is skipped by the cancel of the job it waits for.
   */
  async cancelJob(id: string, actor: Principal, options: { cascade?: boolean } = {}): Promise<Job> {
    if (options.cascade) {
      const downstream = await dependencyStore.openDownstream(this.db, [id]);
      for (const row of await jobStore.byIds(this.db, downstream)) assertMayChange(actor, row);
      for (const downstreamId of downstream) {
        await this.changeJob(downstreamId, actor, async (tx, job) => (isJobEnded(job) ? [] : cancelTasks(tx, job.id)));
      }
    }
    return this.changeJob(id, actor, async (tx, job) => {
      if (job.status === 'cancelled') return [];
      if (isJobEnded(job)) throw illegalJobAction('cancel', job);
      return cancelTasks(tx, id);
    });
  }

  /** A new attempt for every element whose latest attempt did not succeed (manual retry). */
  async retryJob(id: string, actor: Principal): Promise<Job> {
    let retried = 0;
    const job = await this.changeJob(id, actor, async (tx, row) => {
      if (!isJobEnded(row)) throw illegalJobAction('retry', row);
      if (row.status === 'skipped') {
        throw new BorgError(
          'ILLEGAL_TRANSITION',
          `job ${row.id} did not run: ${row.skip_reason}. Retry that job instead`,
          {
            status: row.status,
          },
        );
      }
      const ended = await taskStore.latestUnsucceeded(tx, id);
      if (ended.length === 0)
        throw new BorgError('ILLEGAL_TRANSITION', 'every task of this job succeeded: nothing to retry');
      await jobStore.clearCancelRequested(tx, id);
      const events: BorgEvent[] = [];
      for (const task of ended) {
        events.push({ type: 'task.updated', task: toTask(await taskStore.insertRetry(tx, task, 0)) });
      }
      retried = ended.length;
      return events;
    });
    this.bus.publish({
      type: 'tasks.available',
      count: startableAtOnce(job, retried),
      labels: job.labels,
      jobType: job.type,
    });
    return job;
  }

  /**
   * Runs fn under the job's row lock, then recomputes the job's status in the same
   * transaction, then publishes fn's events and the job's. Only an operator (or above) or the
   * token that submitted the job may change it. (Element actions, array-actions.ts, change jobs through it too.)
   */
  async changeJob(
    id: string,
    actor: Principal,
    fn: (tx: Queryable, job: JobRow) => Promise<BorgEvent[]>,
  ): Promise<Job> {
    const { job, events, downstream } = await this.db.transaction(async (tx) => {
      const row = await jobStore.get(tx, id, { lock: true });
      if (!row) throw notFound('job', id);
      assertMayChange(actor, row);
      const events = await fn(tx, row);
      const refreshed = await refreshJob(tx, id);
      return { job: await jobViews.one(tx, refreshed.job), events, downstream: refreshed.downstream };
    });
    this.bus.publishAll([...events, { type: 'job.updated', job }, ...(await downstreamEvents(this.db, downstream))]);
    return job;
  }
}

/** Only an operator (or above) or the token that submitted a job may change or delete it. */
export function assertMayChange(actor: Principal, job: JobRow): void {
  if (roleAtLeast(actor.role ?? 'viewer', ROLE_TO_CHANGE_ANY_JOB) || job.created_by_token_id === actor.tokenId) return;
  const owner = job.created_by_name === null ? 'another token' : `"${job.created_by_name}"`;
  throw new BorgError(
    'FORBIDDEN',
    `a ${actor.role ?? actor.kind} token may change only the jobs it submitted; job ${job.id} was submitted by ${owner} (the ${ROLE_TO_CHANGE_ANY_JOB} role may change any job)`,
  );
}

/** Cancels a job's pending and blocked tasks and flags its held ones; the events to publish. */
async function cancelTasks(tx: Queryable, jobId: string): Promise<BorgEvent[]> {
  await jobStore.markCancelRequested(tx, jobId);
  const cancelled = await taskStore.cancelPendingOfJob(tx, jobId);
  // After the pending ones: a claim racing this cancel has either committed (its task is
  // now held, and this statement's fresh snapshot flags it) or skipped the row we cancelled.
  const flagged = await taskStore.requestCancelOfHeld(tx, jobId);
  return [
    ...[...cancelled, ...flagged].map((t): BorgEvent => ({ type: 'task.updated', task: toTask(t) })),
    ...flagged.map((t): BorgEvent => ({ type: 'task.cancel_requested', runner_id: t.runner_id!, task_id: t.id })),
  ];
}

function isJobEnded(job: JobRow): boolean {
  return job.completed_at !== null;
}

function illegalJobAction(action: string, job: JobRow): BorgError {
  return new BorgError('ILLEGAL_TRANSITION', `cannot ${action} a job that is ${job.status}`, { status: job.status });
}
