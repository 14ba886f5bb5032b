import { CreateJobRequest, ErrorBody, Job, JobPage, JobWithTasks, ListJobsQuery } from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { BorgError } from '../../errors.ts';
import { jobStore } from '../../jobs/job-store.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { RouteOptions } from '../services.ts';

const JobParams = z.strictObject({ id: z.guid('id must be a job id') });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const jobRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { jobs, db } = services;

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Submit a job (one task per array element)',
        body: CreateJobRequest,
        response: { 200: Job, 201: Job, ...errors },
      },
    },
    async (request, reply) => {
      const { job, created } = await jobs.createJob(request.body, idempotencyKeyOf(request.headers));
      return reply.code(created ? 201 : 200).send(job);
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs, newest first, with filters and cursor paging',
        querystring: ListJobsQuery,
        response: { 200: JobPage, ...errors },
      },
    },
    async (request) => {
      const { limit, cursor, status, name, label, q, created_after, created_before } = request.query;
      const after = cursor ? decodeCursor(cursor, 2) : undefined;
      const [key = '', value = ''] = label
        ? [label.slice(0, label.indexOf('=')), label.slice(label.indexOf('=') + 1)]
        : [];
      const rows = await jobStore.list(db, {
        limit: limit + 1,
        statuses: status,
        namePrefix: name,
        label: label ? { key, value } : undefined,
        nameContains: q,
        createdAfter: created_after,
        createdBefore: created_before,
        after: after ? { createdCursor: after[0]!, id: after[1]! } : undefined,
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: await jobStore.views(db, page),
        next_cursor: rows.length > limit && last ? encodeCursor([last.created_cursor, last.id]) : null,
      };
    },
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job with every attempt of every task',
        params: JobParams,
        response: { 200: JobWithTasks, ...errors },
      },
    },
    async (request) => jobs.getJob(request.params.id),
  );

  const actions = {
    pause: { summary: 'Pause: start no new tasks (running ones finish)', run: (id: string) => jobs.pauseJob(id) },
    resume: { summary: 'Resume a paused job', run: (id: string) => jobs.resumeJob(id) },
    cancel: {
      summary: 'Cancel: pending tasks at once, running ones told to stop',
      run: (id: string) => jobs.cancelJob(id),
    },
    retry: {
      summary: 'Retry every element whose latest attempt did not succeed',
      run: (id: string) => jobs.retryJob(id),
    },
  } as const;
  for (const [action, { summary, run }] of Object.entries(actions)) {
    app.post(
      `/jobs/:id/${action}`,
      { schema: { tags: ['jobs'], summary, params: JobParams, response: { 200: Job, ...errors } } },
      async (request) => run(request.params.id),
    );
  }
};

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
