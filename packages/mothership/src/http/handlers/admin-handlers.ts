import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

/** Health, metrics, the overview's figures and tokens. */
export function adminHandlers({
  readiness,
  metrics,
  stats,
  tokens,
}: Services): Handlers<
  'health' | 'readiness' | 'metrics' | 'stats' | 'statsTimeseries' | 'listTokens' | 'createToken' | 'revokeToken'
> {
  return {
    health: async () => ({ ok: true as const }),
    readiness: async (_request, reply) => {
      const state = await readiness();
      return reply.code(state.ok ? 200 : 503).send(state);
    },
    metrics: async (_request, reply) => {
      const text = await metrics.render();
      return reply.header('content-type', metrics.contentType).send(text);
    },
    stats: async () => stats.counts(),
    statsTimeseries: async (request) => stats.timeseries(request.query.window),
    listTokens: async () => tokens.list(),
    createToken: async (request) => tokens.create(request.body),
    revokeToken: async (request) => tokens.revoke(request.params.id),
  };
}
