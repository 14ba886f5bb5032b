import {
  ErrorBody,
  HeartbeatRequest,
  HeartbeatResponse,
  NextTasksQuery,
  NextTasksResponse,
  page,
  RegisterRunnerRequest,
  RegisterRunnerResponse,
  Runner,
  RunnerTasks,
} from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { BorgError, notFound } from '../../errors.ts';
import { taskStore, toTask } from '../../jobs/task-store.ts';
import { runnerStore } from '../../runners/runner-store.ts';
import { runnerIdOf } from '../auth-hook.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { RouteOptions } from '../services.ts';

const RunnerParams = z.strictObject({ id: z.guid('id must be a runner id') });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(512).optional(),
});

export const runnerRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { db, sessions, dispatcher, authenticator } = services;

  // --- for people ---------------------------------------------------------------------------------

  app.get(
    '/runners',
    {
      schema: {
        tags: ['runners'],
        summary: 'List runners, newest first',
        querystring: ListQuery,
        response: { 200: page(Runner), ...errors },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const after = cursor ? decodeCursor(cursor, 2) : undefined;
      const rows = await runnerStore.list(db, limit + 1, after ? { createdAt: after[0]!, id: after[1]! } : undefined);
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return { items, next_cursor: rows.length > limit && last ? encodeCursor([last.created_at, last.id]) : null };
    },
  );

  app.get(
    '/runners/:id',
    {
      schema: { tags: ['runners'], summary: 'One runner', params: RunnerParams, response: { 200: Runner, ...errors } },
    },
    async (request) => {
      const runner = await runnerStore.get(db, request.params.id);
      if (!runner) throw notFound('runner', request.params.id);
      return runner;
    },
  );

  app.get(
    '/runners/:id/tasks',
    {
      schema: {
        tags: ['runners'],
        summary: 'The tasks a runner holds now (assigned or running)',
        params: RunnerParams,
        response: { 200: RunnerTasks, ...errors },
      },
    },
    async (request) => {
      if (!(await runnerStore.get(db, request.params.id))) throw notFound('runner', request.params.id);
      const held = await taskStore.heldByRunner(db, request.params.id);
      return { items: held.map(toTask) };
    },
  );

  app.post(
    '/runners/:id/drain',
    {
      schema: {
        tags: ['runners'],
        summary: 'Drain: the runner finishes its tasks and takes no new ones',
        params: RunnerParams,
        response: { 200: Runner, ...errors },
      },
    },
    async (request) => sessions.setDraining(request.params.id, true),
  );

  app.post(
    '/runners/:id/resume',
    {
      schema: {
        tags: ['runners'],
        summary: 'Undo a drain',
        params: RunnerParams,
        response: { 200: Runner, ...errors },
      },
    },
    async (request) => sessions.setDraining(request.params.id, false),
  );

  // --- for solders ----------------------------------------------------------------------------------

  app.post(
    '/runners/register',
    {
      config: { access: 'registration' },
      schema: {
        tags: ['runner protocol'],
        summary: 'Register a runner with the registration token; returns its own runner token',
        body: RegisterRunnerRequest,
        response: { 201: RegisterRunnerResponse, ...errors },
      },
    },
    async (request, reply) => {
      if (!request.principal) {
        // No Authorization header: the seed's body field is the last chance.
        const principal = await authenticator.authenticate(request.body.token);
        if (!principal) throw new BorgError('UNAUTHORIZED', 'a registration token is required (Authorization: Bearer)');
        if (principal.kind !== 'registration')
          throw new BorgError('FORBIDDEN', 'registration needs a registration token');
      }
      return reply.code(201).send(await sessions.register(request.body));
    },
  );

  app.post(
    '/runners/:id/heartbeat',
    {
      config: { access: 'runner' },
      schema: {
        tags: ['runner protocol'],
        summary: "Heartbeat; the answer lists the runner's tasks to cancel or abandon",
        params: RunnerParams,
        body: HeartbeatRequest.default({}),
        response: { 200: HeartbeatResponse, ...errors },
      },
    },
    async (request) => sessions.heartbeat(request.params.id, request.body),
  );

  app.get(
    '/runners/:id/tasks/next',
    {
      config: { access: 'runner' },
      schema: {
        tags: ['runner protocol'],
        summary: 'Claim tasks, long-polling up to `wait` seconds; 204 when none came',
        params: RunnerParams,
        querystring: NextTasksQuery,
        response: { 200: NextTasksResponse, 204: z.null().describe('no task within the wait'), ...errors },
      },
    },
    async (request, reply) => {
      const runnerId = runnerIdOf(request);
      const hangUp = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) hangUp.abort();
      });
      // A runner that hung up before this handler ran (while its token was being checked) has
      // already had its 'close', which will not come again: without this it stayed parked and
      // the next task was claimed for a connection that no longer existed.
      if (request.raw.destroyed || request.raw.socket?.destroyed) hangUp.abort();
      const result = await dispatcher.next(runnerId, request.query.max, request.query.wait, hangUp.signal);
      if (!result) return reply.code(204).send(null);
      return result;
    },
  );
};
