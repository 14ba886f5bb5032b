import {
  type CancelElementsRequest,
  CANCELLABLE_ELEMENT_STATUSES,
  type ElementsChanged,
  type Job,
  type JobElements,
  retentionSeconds,
  RETRYABLE_ELEMENT_STATUSES,
  type RetryElementsRequest,
  type TaskStatus,
  type UpdateJobRequest,
} from '@borg/protocol';

import type { Principal } from '../auth/principal.ts';
import type { Database, Queryable } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { BorgEvent, EventBus } from '../events/event-bus.ts';
import { retentionStore } from '../retention/retention-store.ts';
import { arrayStore } from './array-store.ts';
import type { JobActions } from './job-actions.ts';
import { type JobRow, jobStore } from './job-store.ts';
import { startableAtOnce } from './startable-at-once.ts';
import { type TaskRow, taskStore, toTask } from './task-store.ts';

/** Elements chosen by index (`single`: one, named in the path) or by their latest attempt's status. */
interface Selection {
  indexes?: number[] | undefined;
  status?: TaskStatus[] | undefined;
  single?: boolean;
}

/**
 * Array jobs under control: the limit on elements held at once (PATCH, which also sets how long
 * a job is kept), the elements' latest attempts, and retry or cancel of one element or a
 * selection. Each change goes through
 * JobActions.changeJob: under the job's row lock, by an operator or the job's submitter, the
 * job's status recomputed in the same transaction, events published after the commit.
 */
export class ArrayActions {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly jobs: JobActions,
  ) {}

  async elements(id: string): Promise<JobElements> {
    const job = await jobStore.get(this.db, id);
    if (!job) throw notFound('job', id);
    const items = await arrayStore.latest(this.db, id);
    return { job_id: id, array_size: job.array_size, max_parallel: job.max_parallel, items };
  }

  /**
   * Changes max_parallel. The next claim reads it; raising or lifting it wakes runners for the
   * room it made (lowering it stops nothing that runs: no new element starts until the held ones
   * are below it).
   */
  async updateJob(id: string, update: UpdateJobRequest, actor: Principal): Promise<Job> {
    let room = 0;
    const job = await this.jobs.changeJob(id, actor, async (tx, row) => {
      const { pinned, retention, keep_last } = update;
      if (pinned !== undefined || retention !== undefined || keep_last !== undefined) {
        const retention_seconds =
          retention === undefined || retention === null ? retention : retentionSeconds(retention);
        await retentionStore.setKeeping(tx, id, { pinned, retention_seconds, keep_last });
      }
      if (update.max_parallel === undefined || update.max_parallel === row.max_parallel) return [];
      await arrayStore.setMaxParallel(tx, id, update.max_parallel);
      if (update.max_parallel === null) room = row.array_size;
      else if (row.max_parallel !== null) room = Math.max(0, update.max_parallel - row.max_parallel);
      return [];
    });
    if (room > 0) this.bus.publish({ type: 'tasks.available', count: room, labels: job.labels, jobType: job.type });
    return job;
  }

  /**
   * A new attempt, claimable at once, for each selected element whose latest attempt ended
   * without succeeding, also while the rest of the job runs.
   */
  async retry(id: string, selection: Selection | RetryElementsRequest, actor: Principal): Promise<ElementsChanged> {
    const result = await this.act(id, selection, actor, async (tx, job, indexes) => {
      if (job.status === 'skipped') {
        throw new BorgError('ILLEGAL_TRANSITION', `job ${id} did not run: ${job.skip_reason}. Retry that job instead`, {
          status: job.status,
        });
      }
      if (job.cancel_requested_at !== null && job.completed_at === null) {
        throw new BorgError('ILLEGAL_TRANSITION', `job ${id} is being cancelled: retry its elements once it has ended`);
      }
      const created = await taskStore.retryElements(tx, id, indexes, selection.status ?? RETRYABLE_ELEMENT_STATUSES);
      if (created.length === 0) throw await this.nothingTo(tx, 'retry', job, selection);
      // A cancelled job that gets a new attempt runs again, as after a whole-job retry.
      if (job.cancel_requested_at !== null) await jobStore.clearCancelRequested(tx, id);
      return { rows: created, events: created.map(taskUpdated) };
    });
    const { job } = result;
    const count = startableAtOnce(job, result.indexes.length);
    this.bus.publish({ type: 'tasks.available', count, labels: job.labels, jobType: job.type });
    return result;
  }

  /**
   * Cancels each selected element that has not ended: one not started at once, a held one by
   * telling its runner to stop (its attempt then ends cancelled and is not retried).
   */
  async cancel(id: string, selection: Selection | CancelElementsRequest, actor: Principal): Promise<ElementsChanged> {
    return this.act(id, selection, actor, async (tx, job, indexes) => {
      const changed = await taskStore.cancelElements(tx, id, indexes, selection.status ?? CANCELLABLE_ELEMENT_STATUSES);
      if (changed.length === 0) throw await this.nothingTo(tx, 'cancel', job, selection);
      const told = changed.filter((t) => t.status === 'assigned' || t.status === 'running');
      const events = [
        ...changed.map(taskUpdated),
        ...told.map((t): BorgEvent => ({ type: 'task.cancel_requested', runner_id: t.runner_id!, task_id: t.id })),
      ];
      return { rows: changed, events };
    });
  }

  /** Checks the selection's indexes against the job, runs the action, and says what it did. */
  private async act(
    id: string,
    selection: Selection,
    actor: Principal,
    fn: (tx: Queryable, job: JobRow, indexes: number[] | null) => Promise<{ rows: TaskRow[]; events: BorgEvent[] }>,
  ): Promise<ElementsChanged> {
    const indexes = selection.indexes ? [...new Set(selection.indexes)] : null;
    let acted: number[] = [];
    const job = await this.jobs.changeJob(id, actor, async (tx, row) => {
      assertElementsExist(row, indexes, selection.single ?? false);
      const { rows, events } = await fn(tx, row, indexes);
      acted = rows.map((t) => t.index).sort((a, b) => a - b);
      return events;
    });
    return { job, indexes: acted, skipped: indexes ? indexes.length - acted.length : 0 };
  }

  /** Why an action changed nothing: for one element, its state; for a selection, that none was in a state for it. */
  private async nothingTo(tx: Queryable, action: 'retry' | 'cancel', job: JobRow, selection: Selection) {
    if (selection.single && selection.indexes) {
      const index = selection.indexes[0]!;
      const status = await arrayStore.statusOf(tx, job.id, index);
      const rule =
        action === 'retry'
          ? 'only an element whose latest attempt ended without succeeding is retried'
          : 'only an element that has not ended is cancelled';
      return new BorgError('ILLEGAL_TRANSITION', `element ${index} of job ${job.id} is ${status}: ${rule}`, {
        index,
        status,
      });
    }
    const wanted = action === 'retry' ? 'ended without succeeding' : 'not ended';
    return new BorgError('ILLEGAL_TRANSITION', `none of the selected elements has ${wanted}: nothing to ${action}`);
  }
}

/** A path's index beyond the array is a 404; indexes in a body beyond it are a 400 naming them. */
function assertElementsExist(job: JobRow, indexes: number[] | null, single: boolean): void {
  const missing = (indexes ?? []).filter((i) => i >= job.array_size);
  if (missing.length === 0) return;
  const range = job.array_size === 1 ? 'its only element is 0' : `its elements are 0 to ${job.array_size - 1}`;
  if (single) throw new BorgError('NOT_FOUND', `job ${job.id} has no element ${missing[0]}: ${range}`);
  const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? ` and ${missing.length - 10} more` : '');
  throw new BorgError('VALIDATION_FAILED', `job ${job.id} has no element ${shown}: ${range}`, {
    field: 'indexes',
    missing: missing.slice(0, 100),
  });
}

function taskUpdated(task: TaskRow): BorgEvent {
  return { type: 'task.updated', task: toTask(task) };
}
