import {
  describeDisconnectPolicy,
  describeRetryRules,
  type Job,
  type JobWithTasks,
  type ResourceRequest,
  type Task,
} from '@borg/protocol';

import { latestAttempts } from './job-outcome.ts';
import { ago, duration, labelsText, type Output, statusPaint } from './output.ts';

/** How people see jobs: `borg jobs list`, `borg jobs show`, the last line of `submit --follow`. */

export function printJobTable(out: Output, jobs: Job[], now = Date.now()): void {
  out.table(
    jobs,
    [
      { header: 'ID', value: (j) => j.id },
      { header: 'NAME', value: (j) => j.name },
      { header: 'TYPE', value: (j) => j.type },
      { header: 'STATUS', value: (j) => j.status, paint: (j) => statusPaint(j.status) },
      { header: 'RAN ON', value: ranOnText },
      { header: 'ELEMENTS', value: (j) => String(j.array_size) },
      { header: 'PRIORITY', value: (j) => String(j.priority) },
      { header: 'CREATED', value: (j) => ago(j.created_at, now) },
    ],
    'no jobs',
  );
}

/** The longest runner name the list shows whole; a longer one is cut to this with an ellipsis. */
const RAN_ON_WIDTH = 20;

/** The list's short "RAN ON": the job's first runner and how many others (`gpu-1 +2`), `-` before any ran. */
export function ranOnText(job: Job): string {
  const first = job.outcome.runners[0];
  if (!first) return '-';
  const name = first.name.length > RAN_ON_WIDTH ? `${first.name.slice(0, RAN_ON_WIDTH - 1)}…` : first.name;
  const others = job.outcome.runner_count - 1;
  return others > 0 ? `${name} +${others}` : name;
}

/** `runnerName` names a task's runner (runner-names.ts); without it the id is shown. */
export function printJobDetail(
  out: Output,
  job: JobWithTasks,
  now = Date.now(),
  runnerName: (id: string) => string = (id) => id,
): void {
  const command = typeof job.command === 'string' ? job.command : JSON.stringify(job.command);
  out.fields([
    ['id', job.id],
    ['name', job.name],
    [
      'status',
      job.status +
        (job.paused && job.status !== 'paused' ? ' (paused)' : '') +
        (job.unsatisfiable ? ' (no runner could take it at submit)' : ''),
    ],
    ['type', job.type + (job.image ? ` (${job.image}${job.user ? `, as user ${job.user}` : ''})` : '')],
    ['command', command],
    ['labels', labelsText(job.labels)],
    ['resources', resourcesText(job.resources)],
    ['constraints', job.constraints.join('; ') || '-'],
    ['env', Object.keys(job.env).join(', ') || '-'],
    ['priority', String(job.priority)],
    ['attempts', String(job.max_attempts)],
    ['retry', job.retry ? describeRetryRules(job.retry) : '-'],
    ['on disconnect', describeDisconnectPolicy(job.on_disconnect)],
    ['timeout', job.timeout_seconds ? `${job.timeout_seconds}s` : '-'],
    ...(job.array_size > 1 ? [['max parallel', String(job.max_parallel ?? '-')] as [string, string]] : []),
    ['files', job.files.map((f) => f.path).join(', ') || '-'],
    ['artifacts', job.artifacts.join(', ') || '-'],
    ...(job.depends_on.length > 0 ? [['depends on', dependsOnText(job, true)] as [string, string]] : []),
    ...(job.skip_reason ? [['skipped', job.skip_reason] as [string, string]] : []),
    ['submitted by', job.created_by?.name ?? '-'],
    ['created', `${job.created_at} (${ago(job.created_at, now)})`],
    ['finished', job.completed_at ? `${job.completed_at} (${runTime(job) ?? '-'})` : '-'],
  ]);
  out.print();
  out.table(
    [...job.tasks].sort((a, b) => a.index - b.index || a.attempt - b.attempt),
    [
      { header: 'ELEMENT', value: (t) => String(t.index) },
      { header: 'ATTEMPT', value: (t) => String(t.attempt) },
      { header: 'TASK', value: (t) => t.id },
      { header: 'STATUS', value: (t) => t.status, paint: (t) => statusPaint(t.status) },
      { header: 'EXIT', value: (t) => (t.exit_code === null ? (t.signal ?? '-') : String(t.exit_code)) },
      { header: 'RUNNER', value: (t) => (t.runner_id ? runnerName(t.runner_id) : '-') },
      ...(job.tasks.some((t) => t.gpus.length > 0)
        ? [{ header: 'GPUS', value: (t: Task) => t.gpus.map((g) => g.index).join(',') || '-' }]
        : []),
      { header: 'TIME', value: (t) => taskTime(t, now) },
      { header: 'REASON', value: (t) => t.error ?? t.reason ?? '' },
      ...(job.tasks.some((t) => t.retry_decision)
        ? [{ header: 'RETRY', value: (t: Task) => retryDecisionText(t) }]
        : []),
    ],
    'no tasks',
  );
}

/** The line `borg submit --follow` ends with: what happened, and for a failure, to whom. */
export function summariseJob(out: Output, job: JobWithTasks): string {
  const took = runTime(job);
  const head = `job ${job.id} ${out.paint(statusPaint(job.status) ?? 'bold', job.status, 'err')}${took ? ` in ${took}` : ''}`;
  if (job.status === 'succeeded') return head;
  const failed = latestAttempts(job).filter((t) => t.status !== 'succeeded');
  const parts = failed.slice(0, 3).map(elementEndText);
  if (failed.length > 3) parts.push(`${failed.length - 3} more`);
  return parts.length ? `${head}: ${out.cell(parts.join('; '))}` : head;
}

/** How an element's attempt that did not succeed ended: "element 2 exited with 3", "element 0 timed_out (…)". */
export function elementEndText(t: Pick<Task, 'index' | 'status' | 'exit_code' | 'error' | 'reason'>): string {
  const why = t.exit_code !== null && t.status === 'failed' ? `exited with ${t.exit_code}` : t.status;
  const detail = t.error ?? (t.reason && t.reason !== t.status ? t.reason : '');
  return `element ${t.index} ${why}${detail ? ` (${detail})` : ''}`;
}

/** Which rule retried an attempt, or why it was not: "retried: exit code 137 matched on_exit_codes …". */
function retryDecisionText(task: Task): string {
  const decision = task.retry_decision;
  if (!decision) return '';
  return `${decision.retried ? 'retried' : 'not retried'}: ${decision.message}`;
}

/**
 * A job's dependencies in a line: `preprocess, lint if failed`, each with its condition when it is
 * not `succeeded`; `withState` adds whether each is met yet (`preprocess (met)`).
 */
export function dependsOnText(job: Pick<Job, 'depends_on'>, withState = false): string {
  return (
    job.depends_on
      .map((d) => {
        const condition = d.condition === 'succeeded' ? '' : ` if ${d.condition}`;
        return `${d.name}${condition}${withState ? ` (${d.state})` : ''}`;
      })
      .join(', ') || '-'
  );
}

function runTime(job: Job): string | undefined {
  if (!job.completed_at) return undefined;
  const start = job.started_at ?? job.created_at;
  return duration(Date.parse(job.completed_at) - Date.parse(start));
}

function taskTime(task: Task, now: number): string {
  if (!task.started_at) return '-';
  const end = task.completed_at ? Date.parse(task.completed_at) : now;
  return duration(end - Date.parse(task.started_at));
}

/** A job's request per task, as `key=value` words (`cpu=2 memory_mb=8192 gpus=1`); `-` for none. */
export function resourcesText(resources: ResourceRequest): string {
  return (
    Object.entries(resources)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ') || '-'
  );
}
