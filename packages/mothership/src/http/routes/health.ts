import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { isSchemaCurrent } from '../../db/migrate.ts';
import type { RouteOptions } from '../services.ts';

const Readiness = z.object({ ok: z.boolean(), database: z.boolean(), migrations: z.boolean() });

export const healthRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { tags: ['health'], summary: 'The process is up', response: { 200: z.object({ ok: z.literal(true) }) } },
    },
    async () => ({ ok: true as const }),
  );

  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'The database answers and its schema is current',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const database = await services.db.query('SELECT 1').then(
        () => true,
        () => false,
      );
      const migrations = database && (await isSchemaCurrent(services.db, services.migrations).catch(() => false));
      const ok = database && migrations;
      return reply.code(ok ? 200 : 503).send({ ok, database, migrations });
    },
  );
};
