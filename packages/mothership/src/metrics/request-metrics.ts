import type { FastifyInstance } from 'fastify';

import type { Metrics } from './metrics.ts';

/**
 * Times every HTTP request into borg_http_request_duration_seconds. The route label is the
 * route's pattern (`/api/v1/jobs/:id`), never the URL a client sent: ids, query strings and
 * `?token=` stay out of the metrics, and a scanner probing random paths adds one series
 * (`unmatched`), not one per path.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
}
