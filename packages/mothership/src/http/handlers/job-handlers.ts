import { BorgError } from '../../errors.ts';
import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function jobHandlers({
  jobs,
  placement,
  retention,
}: Services): Handlers<
  | 'createJob'
  | 'listJobs'
  | 'getJob'
  | 'getJobPlacement'
  | 'pauseJob'
  | 'resumeJob'
  | 'cancelJob'
  | 'retryJob'
  | 'deleteJob'
> {
  return {
    createJob: async (request, reply) => {
      const { job, created } = await jobs.createJob(
        request.body,
        principalOf(request),
        idempotencyKeyOf(request.headers),
      );
      return reply.code(created ? 201 : 200).send(job);
    },
    listJobs: async (request) => jobs.listJobs(request.query),
    getJob: async (request) => jobs.getJob(request.params.id),
    getJobPlacement: async (request) => placement.explainJob(request.params.id),
    pauseJob: async (request) => jobs.pauseJob(request.params.id, principalOf(request)),
    resumeJob: async (request) => jobs.resumeJob(request.params.id, principalOf(request)),
    cancelJob: async (request) =>
      jobs.cancelJob(request.params.id, principalOf(request), { cascade: request.query.cascade === true }),
    retryJob: async (request) => jobs.retryJob(request.params.id, principalOf(request)),
    deleteJob: async (request) => retention.deleteJob(request.params.id, principalOf(request)),
  };
}

/**
 * The optional `Idempotency-Key` header of POST /jobs: a client's own unique string (a UUID) that
 * makes a retried submission return the job the first attempt created (reliability plan F17e).
 */
function idempotencyKeyOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new BorgError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 255 visible ASCII characters, sent once');
  }
  return value;
}
