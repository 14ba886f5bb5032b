import type { Queryable } from '../db/database.ts';
import type { BorgEvent } from '../events/event-bus.ts';
import { dependencyStore, type DownstreamChange } from './dependency-store.ts';
import { type JobRow, jobStore } from './job-store.ts';
import { jobViews } from './job-views.ts';
import { taskStore, toTask } from './task-store.ts';

/** A job's status after a refresh, and the jobs downstream of it that its change moved. */
export interface RefreshedJob {
  job: JobRow;
  downstream: DownstreamChange[];
}

/**
 * Recomputes a job's status (jobStore.refreshStatus; the caller holds the job's lock) and, when
 * that ended or re-opened the job, carries the change to the jobs that depend on it, in the same
 * transaction: an ending resolves their dependencies (releasing or skipping them), a retry
 * re-blocks the ones it had skipped. A skipped job is itself an ending and a re-blocked one a
 * re-opening, so the change travels down the graph, one statement per job it reaches.
 */
export async function refreshJob(tx: Queryable, id: string): Promise<RefreshedJob> {
  const { was_ended: wasEnded, ...job } = await jobStore.refreshStatus(tx, id);
  const ended = job.completed_at !== null;
  if (ended === wasEnded) return { job, downstream: [] };
  const downstream = ended
    ? await settleEnded(tx, [{ id: job.id, name: job.name, status: job.status }])
    : await settleReopened(tx, job.id);
  return { job, downstream };
}

/** Resolves the dependants of jobs that just ended, and of the jobs that skips, and so on. */
export async function settleEnded(
  tx: Queryable,
  upstreams: DownstreamChange[] | Array<Pick<DownstreamChange, 'id' | 'name' | 'status'>>,
  onlyJob: string | null = null,
): Promise<DownstreamChange[]> {
  const changes: DownstreamChange[] = [];
  let ended = upstreams;
  let first = true;
  while (ended.length > 0) {
    const changed = await dependencyStore.resolve(tx, ended, first ? onlyJob : null);
    first = false;
    changes.push(...changed);
    ended = changed.filter((c) => c.status === 'skipped');
  }
  return changes;
}

async function settleReopened(tx: Queryable, upstreamId: string): Promise<DownstreamChange[]> {
  const changes: DownstreamChange[] = [];
  const reopened = [upstreamId];
  for (let id = reopened.pop(); id !== undefined; id = reopened.pop()) {
    const changed = await dependencyStore.reopen(tx, id);
    changes.push(...changed);
    reopened.push(...changed.filter((c) => c.reblocked).map((c) => c.id));
  }
  return changes;
}

/**
 * The events for jobs changed downstream, to publish after the commit: each job's new view, its
 * elements' attempts (released, skipped or blocked again), and a wake-up for the attempts
 * released (they are claimable now).
 */
export async function downstreamEvents(db: Queryable, changes: readonly DownstreamChange[]): Promise<BorgEvent[]> {
  if (changes.length === 0) return [];
  const ids = [...new Set(changes.map((c) => c.id))];
  const [rows, tasks] = await Promise.all([jobStore.byIds(db, ids), taskStore.latestOfJobs(db, ids)]);
  const jobs = await jobViews.of(db, rows);
  const events: BorgEvent[] = [
    ...tasks.map((task): BorgEvent => ({ type: 'task.updated', task: toTask(task) })),
    ...jobs.map((job): BorgEvent => ({ type: 'job.updated', job })),
  ];
  const released = changes.filter((c) => c.released).reduce((sum, c) => sum + c.array_size, 0);
  if (released > 0) events.push({ type: 'tasks.available', count: released, labels: null });
  return events;
}
