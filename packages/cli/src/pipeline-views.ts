import type { Job, Pipeline } from '@borg/protocol';

import { dependsOnText, elementEndText } from './job-views.ts';
import { type Output, statusPaint } from './output.ts';

/** How `borg run` and `borg pipelines show` print a pipeline and its jobs. */

/** Enough of an id to give back to `borg` (prefixes of 6 characters or more are looked up). */
export const SHORT_ID_LENGTH = 8;

export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

export function printPipeline(out: Output, pipeline: Pipeline): void {
  out.print(`pipeline ${pipeline.id}${pipeline.name ? ` (${pipeline.name})` : ''}`);
  out.table(
    pipeline.jobs,
    [
      { header: 'JOB', value: (j) => j.name },
      { header: 'ID', value: (j) => shortId(j.id) },
      { header: 'STATUS', value: (j) => j.status, paint: (j) => statusPaint(j.status) },
      { header: 'WAITS FOR', value: (j) => dependsOnText(j) },
      // Why a job failed or was skipped: only once one has.
      ...(pipeline.jobs.some((j) => jobNote(j)) ? [{ header: 'NOTE', value: (j: Job) => jobNote(j) }] : []),
    ],
    'no jobs',
  );
}

/** Why a job ended as it did, when it did not succeed: its skip reason, or how its first failing element ended. */
export function jobNote(job: Pick<Job, 'status' | 'skip_reason' | 'outcome'>): string {
  if (job.status === 'skipped') return job.skip_reason ?? '';
  const failure = job.outcome.failure;
  if (job.status === 'failed' && failure) return elementEndText(failure);
  return '';
}
