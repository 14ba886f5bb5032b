import { BORG_VERSION } from '@borg/protocol';

import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

/** Health, metrics, the overview's figures, tokens and the audit log. */
export function adminHandlers({
  readiness,
  metrics,
  stats,
  tokens,
  audit,
}: Services): Handlers<
  | 'health'
  | 'readiness'
  | 'metrics'
  | 'stats'
  | 'statsTimeseries'
  | 'listTokens'
  | 'createToken'
  | 'revokeToken'
  | 'whoami'
  | 'listAudit'
> {
  return {
    health: async () => ({ ok: true as const, version: BORG_VERSION }),
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
    createToken: async (request) => tokens.create(request.body, principalOf(request)),
    whoami: async (request) => tokens.whoami(principalOf(request)),
    listAudit: async (request) => audit.list(request.query),
    revokeToken: async (request) => tokens.revoke(request.params.id),
  };
}
