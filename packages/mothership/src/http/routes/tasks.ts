import {
  AppendLogsRequest,
  AppendLogsResponse,
  ArtifactList,
  ErrorBody,
  LogPage,
  LogsQuery,
  Task,
  TaskStatusRequest,
  TaskStatusResponse,
} from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { notFound } from '../../errors.ts';
import { logStore } from '../../jobs/log-store.ts';
import { taskStore, toTask } from '../../jobs/task-store.ts';
import { runnerIdOf } from '../auth-hook.ts';
import type { RouteOptions } from '../services.ts';

const TaskParams = z.strictObject({ id: z.guid('id must be a task id') });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const taskRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { db, queue, artifacts } = services;

  app.get(
    '/tasks/:id',
    {
      schema: {
        tags: ['tasks'],
        summary: 'One task (attempt)',
        params: TaskParams,
        response: { 200: Task, ...errors },
      },
    },
    async (request) => {
      const row = await taskStore.get(db, request.params.id);
      if (!row) throw notFound('task', request.params.id);
      return toTask(row);
    },
  );

  app.post(
    '/tasks/:id/status',
    {
      config: { access: 'runner' },
      schema: {
        tags: ['runner protocol'],
        summary: 'Report a task status (fenced: only the holding runner, only legal transitions)',
        params: TaskParams,
        body: TaskStatusRequest,
        response: { 200: TaskStatusResponse, ...errors },
      },
    },
    async (request) => queue.reportStatus(runnerIdOf(request), request.params.id, request.body),
  );

  app.post(
    '/tasks/:id/logs',
    {
      config: { access: 'runner' },
      // A batch is at most 64 KiB from a well-behaved solder; 8 MiB leaves room for a few
      // megabyte-long lines without letting one request hold the server's memory.
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: ['runner protocol'],
        summary: 'Append a numbered batch of log lines (idempotent, in order)',
        params: TaskParams,
        body: AppendLogsRequest,
        response: { 200: AppendLogsResponse, ...errors },
      },
    },
    async (request) => queue.appendLogs(runnerIdOf(request), request.params.id, request.body),
  );

  app.get(
    '/tasks/:id/logs',
    {
      schema: {
        tags: ['tasks'],
        summary: "Read a task's log lines in order, paged by line index",
        params: TaskParams,
        querystring: LogsQuery,
        response: { 200: LogPage, ...errors },
      },
    },
    async (request) => {
      const task = await taskStore.get(db, request.params.id);
      if (!task) throw notFound('task', request.params.id);
      const { after = -1, limit } = request.query;
      const items = await logStore.page(db, task.id, after, limit);
      const last = items.at(-1);
      return { items, next_cursor: items.length === limit && last ? String(last.index) : null };
    },
  );

  app.get(
    '/tasks/:id/artifacts',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Artifacts a task uploaded (download them through /files/:file_id/download)',
        params: TaskParams,
        response: { 200: ArtifactList, ...errors },
      },
    },
    async (request) => ({ items: await artifacts.listOfTask(request.params.id), next_cursor: null }),
  );
};
