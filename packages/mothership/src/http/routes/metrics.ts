import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

import type { RouteOptions } from '../services.ts';

/**
 * Prometheus metrics. They say how busy the fleet is, which labels have work waiting and how
 * many runners exist — not secrets, but not for everyone either — so a user token is needed
 * unless BORG_METRICS_PUBLIC=true opens it for a scraper on a private network.
 */
export const metricsRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  app.get(
    '/metrics',
    {
      config: { access: services.config.metricsPublic ? 'public' : 'user' },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format); a user token unless BORG_METRICS_PUBLIC=true',
      },
    },
    async (_request, reply) => {
      const text = await services.metrics.render();
      return reply.header('content-type', services.metrics.contentType).send(text);
    },
  );
};
