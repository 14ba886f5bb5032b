import type { Job } from '@borg/protocol';

type EndedJob = Pick<Job, 'id' | 'status' | 'depends_on'>;

/**
 * The exit code of `borg run --follow` once every job of the pipeline has ended: 0 when the
 * pipeline went as written, 1 when something in it went wrong.
 *
 * - A job that failed, was cancelled or ended any other way than `succeeded` or `skipped` makes
 *   it 1, even when a job waiting on it with `condition: failed` then ran (a handler that
 *   cleans up or reports does not undo the failure).
 * - A skipped job does not count by itself. When it was skipped because a job of the pipeline did
 *   not succeed, that job already says 1. When it was skipped because a job it waited for with
 *   `condition: failed` succeeded, the branch was simply not needed: 0. (So a pipeline whose only
 *   non-success is such a skip exits 0.)
 * - The one skip that counts: a dependency outside the pipeline (`depends_on: [{job_id: …}]`)
 *   that was to succeed and did not. Nothing inside the pipeline failed, yet it did not run.
 */
export function pipelineExitCode(jobs: readonly EndedJob[]): 0 | 1 {
  const inPipeline = new Set(jobs.map((j) => j.id));
  for (const job of jobs) {
    if (job.status === 'succeeded') continue;
    if (job.status !== 'skipped') return 1;
    const failedOutside = job.depends_on.some(
      (d) => d.state === 'unmet' && d.condition === 'succeeded' && !inPipeline.has(d.job_id),
    );
    if (failedOutside) return 1;
  }
  return 0;
}
