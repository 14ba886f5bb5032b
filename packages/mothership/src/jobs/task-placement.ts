import type { JobType, RunnerVerdict, TaskPlacement } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { notFound } from '../errors.ts';
import {
  nearestFirst,
  type PlacementDemand,
  placementReasons,
  type PlacementRunner,
  takesType,
  verdictOf,
} from '../runners/placement-rules.ts';
import { placementStore } from '../runners/placement-store.ts';
import { runnerStore } from '../runners/runner-store.ts';
import { arrayStore } from './array-store.ts';
import { type JobRow, jobStore } from './job-store.ts';
import { queuePositionStore } from './queue-position-store.ts';
import { type TaskRow, taskStore } from './task-store.ts';

/** The most runner verdicts an answer lists; the rest are counted in runners_not_listed. */
export const MAX_LISTED_RUNNERS = 50;
/** The window of history the wait is estimated from. */
const PACE_WINDOW_SECONDS = 3600;
/** Beyond this many distinct label sets among the runners, position counts every task ahead. */
const MAX_LABEL_SETS = 200;

/**
 * "Why is this pending?", computed on request (GET /tasks/:id/placement):
 *
 * - runners: each runner's reasons under placement-rules' `now` mode, nearest first (eligible
 *   ones, then fewest reasons), at most MAX_LISTED_RUNNERS;
 * - job_reasons: what holds the task whatever the runners (`job paused`, `backoff until …`);
 * - position: 1 + the claimable pending tasks ahead of it in claim order that compete for the
 *   same runners, where a task competes when its labels match some runner whose labels and
 *   attributes this task's job accepts (constraints and requests of the tasks ahead are not
 *   weighed). With no such runner, or too many label sets to compare, every task ahead counts;
 * - estimated_wait_seconds: position × the window ÷ the tasks with the same labels and requests
 *   that runners took in the last hour (null when none did), at least the backoff left; null
 *   while the job is paused.
 *
 * A task that is not pending gets its status in the summary and nothing else.
 */
export class TaskPlacementService {
  constructor(private readonly db: Queryable) {}

  async explainTask(taskId: string): Promise<TaskPlacement> {
    const task = await taskStore.get(this.db, taskId);
    if (!task) throw notFound('task', taskId);
    const job = await jobStore.get(this.db, task.job_id);
    if (!job) throw notFound('task', taskId);
    return task.status === 'pending' ? this.explainPending(task, job) : this.explainSettled(task);
  }

  /** The placement of the job's pending task the claim would take first (else of its latest attempt). */
  async explainJob(jobId: string): Promise<TaskPlacement> {
    const taskId = await queuePositionStore.firstOfJob(this.db, jobId);
    if (!taskId) throw notFound('job', jobId);
    return this.explainTask(taskId);
  }

  private async explainSettled(task: TaskRow): Promise<TaskPlacement> {
    const runner = task.runner_id ? await runnerStore.get(this.db, task.runner_id) : null;
    const where = runner ? `${task.status === 'assigned' ? ' to' : ' on'} ${runner.name}` : '';
    return {
      task_id: task.id,
      status: task.status,
      position: null,
      estimated_wait_seconds: null,
      job_reasons: [],
      runners: [],
      runners_not_listed: 0,
      summary: `${task.status}${where}: not waiting`,
    };
  }

  private async explainPending(task: TaskRow, job: JobRow): Promise<TaskPlacement> {
    const demand: PlacementDemand = {
      labels: task.labels,
      constraints: job.constraints ?? [],
      resources: job.resources,
      type: job.type,
    };
    const [judged, now, pace] = await Promise.all([
      placementStore.runners(this.db, demand.constraints, {
        knownOnly: false,
        withGpus: (demand.resources.gpus ?? 0) > 0,
      }),
      queuePositionStore.now(this.db),
      queuePositionStore.assignedLike(this.db, task.id, PACE_WINDOW_SECONDS),
    ]);
    const verdicts = judged.map(({ runner, unmet }) =>
      verdictOf(runner, placementReasons(runner, demand, unmet, 'now')),
    );
    const position = 1 + (await queuePositionStore.ahead(this.db, task.id, competingLabelSets(judged, demand)));

    const jobReasons: string[] = [];
    if (job.paused) jobReasons.push('job paused');
    if (job.max_parallel !== null) {
      const held = await arrayStore.heldOf(this.db, job.id);
      if (held >= job.max_parallel)
        jobReasons.push(`max_parallel reached: ${held} of ${job.max_parallel} elements held`);
    }
    const backoffSeconds = Math.max(0, (task.available_at.getTime() - now.getTime()) / 1000);
    if (backoffSeconds > 0) jobReasons.push(`backoff until ${task.available_at.toISOString().slice(11, 19)} UTC`);

    const byPace = pace > 0 ? Math.round((position * PACE_WINDOW_SECONDS) / pace) : null;
    const wait = job.paused ? null : backoffSeconds > 0 ? Math.max(Math.ceil(backoffSeconds), byPace ?? 0) : byPace;

    verdicts.sort(nearestFirst);
    return {
      task_id: task.id,
      status: task.status,
      position,
      estimated_wait_seconds: wait,
      job_reasons: jobReasons,
      runners: verdicts.slice(0, MAX_LISTED_RUNNERS),
      runners_not_listed: Math.max(0, verdicts.length - MAX_LISTED_RUNNERS),
      summary: pendingSummary(jobReasons, verdicts, position, untakenType(judged, job.type)),
    };
  }
}

/**
 * The label sets of the runners whose labels and attributes accept the task (whatever their
 * state): a task ahead competes when its labels match one of them. Null: count every task ahead.
 */
function competingLabelSets(
  judged: ReadonlyArray<{ runner: { labels: Record<string, string> }; unmet: number[] }>,
  demand: PlacementDemand,
): Array<Record<string, string>> | null {
  const sets = new Map<string, Record<string, string>>();
  for (const { runner, unmet } of judged) {
    if (unmet.length > 0) continue;
    if (!Object.entries(demand.labels).every(([key, value]) => runner.labels[key] === value)) continue;
    sets.set(JSON.stringify(Object.entries(runner.labels).sort()), runner.labels);
    if (sets.size > MAX_LABEL_SETS) return null;
  }
  return sets.size === 0 ? null : [...sets.values()];
}

/** The job's type when runners are registered but no online one takes that type; else null. */
function untakenType(judged: ReadonlyArray<{ runner: PlacementRunner }>, type: JobType): JobType | null {
  if (judged.length === 0) return null;
  return judged.some(({ runner }) => runner.online && takesType(runner, type)) ? null : type;
}

/**
 * The job-level reason; else how many runners could take it now; else that no online runner
 * takes its type; else the commonest runner reason.
 */
function pendingSummary(
  jobReasons: string[],
  verdicts: RunnerVerdict[],
  position: number,
  untaken: JobType | null,
): string {
  if (jobReasons.length > 0) return jobReasons.join('; ');
  if (verdicts.length === 0) return 'no runner is registered';
  const eligible = verdicts.filter((verdict) => verdict.eligible).length;
  if (eligible > 0) {
    const runners = `${eligible} runner${eligible === 1 ? '' : 's'} could take it now`;
    return position > 1 ? `${position - 1} ahead in line; ${runners}` : `next in line; ${runners}`;
  }
  if (untaken) return `no online runner takes ${untaken} jobs`;
  const counts = new Map<string, { n: number; example: string }>();
  for (const verdict of verdicts) {
    for (const kind of new Set(verdict.reasons.map(reasonKind))) {
      const entry = counts.get(kind) ?? { n: 0, example: verdict.reasons.find((r) => reasonKind(r) === kind)! };
      entry.n++;
      counts.set(kind, entry);
    }
  }
  const commonest = [...counts.values()].reduce((a, b) => (b.n > a.n ? b : a));
  return verdicts.length === 1
    ? commonest.example
    : `${commonest.example} (${commonest.n} of ${verdicts.length} runners)`;
}

/** "label os", "cpu", "slots full", "offline": a reason without its figures. */
function reasonKind(reason: string): string {
  const end = reason.search(/:| \(/);
  return end === -1 ? reason : reason.slice(0, end);
}
