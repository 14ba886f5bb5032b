import type { FastifyReply, FastifyRequest } from 'fastify';

import { type Authenticator, bearerToken } from '../auth/authenticator.ts';
import type { Principal } from '../auth/token-store.ts';
import { BorgError } from '../errors.ts';
import { type AuthFailureLimiter, rateLimited } from './rate-limits.ts';

/**
 * Who may call a route:
 * - `public`: anyone (health checks only);
 * - `user`: a user (API) token;
 * - `runner`: a runner token, and only for the runner named in `:id` when the path has one;
 * - `registration`: a registration token (header, or the seed's `token` body field);
 * - `user-or-runner`: either (file downloads: the route then checks what a runner may read).
 * A route that says nothing is `user`: the default is to deny.
 */
export type RouteAccess = 'public' | 'user' | 'runner' | 'registration' | 'user-or-runner';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const ALLOWED_KINDS: Record<Exclude<RouteAccess, 'public'>, Principal['kind'][]> = {
  user: ['user'],
  runner: ['runner'],
  registration: ['registration'],
  'user-or-runner': ['user', 'runner'],
};

export function createAuthHook(authenticator: Authenticator, failures: AuthFailureLimiter | null) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const access = request.routeOptions.config.access ?? 'user';
    request.principal = null;
    if (access === 'public') return;

    const header = request.headers.authorization;
    const token = bearerToken(header) ?? websocketQueryToken(request);
    // An address that has guessed too often may go on only with a token that worked recently;
    // anything else is refused without even being looked up (A13).
    if (failures && !authenticator.recentlyValid(token)) {
      const wait = await failures.blockedFor(request);
      if (wait > 0) throw rateLimited('too many failed authentications from this address', wait);
    }

    // The seed's registration carried its token in the body; the route checks it after parsing.
    if (access === 'registration' && header === undefined) return;

    const principal = await authenticator.authenticate(token);
    if (!principal) {
      throw new BorgError(
        'UNAUTHORIZED',
        token ? 'the token is not valid (unknown, revoked or expired)' : 'an Authorization: Bearer token is required',
      );
    }
    if (!ALLOWED_KINDS[access].includes(principal.kind)) {
      throw new BorgError(
        'FORBIDDEN',
        `a ${principal.kind} token cannot be used here; this route needs a ${ALLOWED_KINDS[access].join(' or ')} token`,
      );
    }
    const pathRunnerId = (request.params as { id?: string } | undefined)?.id;
    if (
      access === 'runner' &&
      request.routeOptions.url?.startsWith('/api/v1/runners/:id') &&
      pathRunnerId !== principal.runnerId
    ) {
      throw new BorgError('FORBIDDEN', 'a runner token acts only for its own runner');
    }
    request.principal = principal;
  };
}

/** Browsers cannot set headers on a WebSocket upgrade, so /ws alone takes `?token=`. */
function websocketQueryToken(request: FastifyRequest): string | undefined {
  if (request.routeOptions.url !== '/ws') return undefined;
  const token = (request.query as { token?: unknown } | undefined)?.token;
  return typeof token === 'string' ? token : undefined;
}

/** The principal of an authenticated route (the hook guarantees one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new BorgError('UNAUTHORIZED', 'an Authorization: Bearer token is required');
  return request.principal;
}

export function runnerIdOf(request: FastifyRequest): string {
  const principal = principalOf(request);
  if (principal.kind !== 'runner' || !principal.runnerId)
    throw new BorgError('FORBIDDEN', 'this route needs a runner token');
  return principal.runnerId;
}
