import type { Job } from '@borg/protocol';

/**
 * How many runners to wake for `count` elements of a job that became claimable: no more than its
 * max_parallel. More would only queue for the job's lock in the claim and find no room.
 */
export function startableAtOnce(job: Pick<Job, 'max_parallel'>, count: number): number {
  return job.max_parallel === null ? count : Math.min(count, job.max_parallel);
}
