import { WebSocketCloseCode } from '@borg/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { BorgError } from '../errors.ts';
import { MAX_SOCKETS_PER_TOKEN, type SocketSignIn } from '../live/websocket-hub.ts';
import { refusal } from './auth-hook.ts';
import { type AuthFailureLimiter, rateLimited } from './rate-limits.ts';
import type { Services } from './services.ts';

/**
 * The live channel `/ws`. A client signs in either on the upgrade (an `Authorization` header:
 * the CLI, scripts) or, when the upgrade carries no credential (a browser), with its first
 * message (`{"type": "auth", "token": …}`), judged by the same rules as a header: a user
 * token of at least the route's role, the per-address failure limit and the per-token socket limit.
 */
export function registerWebSocketRoute(
  app: FastifyInstance,
  services: Services,
  failures: AuthFailureLimiter | null,
): void {
  const hub = services.live;
  const allowedOrigins = new Set(services.config.allowedOrigins);
  app.route({
    method: 'GET',
    url: '/ws',
    schema: { hide: true },
    // Cross-site WebSocket hijacking (W2): a browser page from another origin may not connect.
    preValidation: async (request) => {
      const origin = request.headers.origin;
      if (!origin) return; // not a browser
      const host = request.headers.host;
      const sameOrigin = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
      if (!sameOrigin && !allowedOrigins.has(origin)) {
        throw new BorgError('FORBIDDEN', `origin ${origin} may not open a WebSocket here (see BORG_ALLOWED_ORIGINS)`);
      }
    },
    preHandler: async (request) => {
      if (request.principal && hub.socketsOf(request.principal.tokenId) >= MAX_SOCKETS_PER_TOKEN) {
        throw rateLimited(`this token already holds ${MAX_SOCKETS_PER_TOKEN} open WebSockets; close one first`, 5);
      }
    },
    wsHandler: (socket, request) => {
      if (request.principal) hub.add(socket, request.principal);
      else hub.addUnauthenticated(socket, signInOnSocket(request, services, failures));
    },
    // A plain GET (no Upgrade header) is told what /ws is: 426 with Upgrade, not an empty 404.
    handler: async (_request, reply) => {
      reply.header('upgrade', 'websocket');
      throw new BorgError('UPGRADE_REQUIRED', '/ws is a WebSocket: connect with "Upgrade: websocket"');
    },
  });
  app.addHook('onClose', async () => hub.close());
}

/** Judges the token of a socket's `auth` message as the auth hook judges a header's. */
function signInOnSocket(
  request: FastifyRequest,
  services: Services,
  failures: AuthFailureLimiter | null,
): SocketSignIn {
  const { authenticator, live: hub } = services;
  const refused = (code: number, reason: string) => ({ refused: { code, reason } });
  return async (token) => {
    // An address that has guessed too often goes on only with a token that worked recently (A13).
    if (failures && !authenticator.recentlyValid(token)) {
      const wait = await failures.blockedFor(request);
      if (wait > 0) {
        return refused(WebSocketCloseCode.rateLimited, `too many failed authentications; retry in ${wait} s`);
      }
    }
    const principal = await authenticator.authenticate(token);
    if (!principal) {
      await failures?.noteFailure(request);
      return refused(WebSocketCloseCode.unauthenticated, 'the token is not valid (unknown, revoked or expired)');
    }
    // The route declares no access of its own, so it needs what every such route needs: a viewer.
    const why = refusal('viewer', principal);
    if (why) return refused(WebSocketCloseCode.forbidden, why);
    if (hub.socketsOf(principal.tokenId) >= MAX_SOCKETS_PER_TOKEN) {
      return refused(
        WebSocketCloseCode.rateLimited,
        `this token already holds ${MAX_SOCKETS_PER_TOKEN} open WebSockets`,
      );
    }
    return { principal };
  };
}
