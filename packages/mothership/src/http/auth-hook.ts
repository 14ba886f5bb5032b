import { type Access, type Role, roleAtLeast, routes } from '@borg/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { type Authenticator, bearerToken } from '../auth/authenticator.ts';
import type { Principal } from '../auth/principal.ts';
import { BorgError } from '../errors.ts';
import { type AuthFailureLimiter, rateLimited } from './rate-limits.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (from the route table); a route that says nothing needs a viewer. */
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** What a token of the wrong class is told it would need. */
const NEEDED_KIND: Record<Exclude<Access, 'public'>, string> = {
  viewer: 'user',
  submitter: 'user',
  operator: 'user',
  admin: 'user',
  runner: 'runner',
  registration: 'registration (or its own runner)',
  'viewer-or-runner': 'user or runner',
};

/** Why a principal may not call a route of this access, or null when it may. */
export function refusal(access: Exclude<Access, 'public'>, principal: Principal): string | null {
  const allowed =
    access === 'runner'
      ? principal.kind === 'runner'
      : access === 'registration'
        ? principal.kind === 'registration' || principal.kind === 'runner'
        : principal.kind === 'user' || (access === 'viewer-or-runner' && principal.kind === 'runner');
  if (!allowed) {
    return `a ${principal.kind} token cannot be used here; this route needs a ${NEEDED_KIND[access]} token`;
  }
  if (principal.kind !== 'user' || access === 'runner' || access === 'registration') return null;
  const needed: Role = access === 'viewer-or-runner' ? 'viewer' : access;
  const held = principal.role ?? 'viewer';
  return roleAtLeast(held, needed) ? null : `this route needs the ${needed} role; this token is ${withArticle(held)}`;
}

function withArticle(role: Role): string {
  return `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;
}

export function createAuthHook(authenticator: Authenticator, failures: AuthFailureLimiter | null) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const access = request.routeOptions.config.access ?? 'viewer';
    request.principal = null;
    if (access === 'public') return;

    const header = request.headers.authorization;
    const token = bearerToken(header) ?? websocketQueryToken(request);
    // A browser signs in on the socket itself, with its first message: an upgrade that carries
    // no credential goes through to the hub, which closes it unless that message comes in time.
    if (header === undefined && token === undefined && isWebSocketUpgrade(request)) return;
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
    // Known before the checks below, so a refused call is still attributed (the audit log).
    request.principal = principal;
    const refused = refusal(access, principal);
    if (refused) throw new BorgError('FORBIDDEN', refused);
    const pathRunnerId = (request.params as { id?: string } | undefined)?.id;
    if (
      access === 'runner' &&
      request.routeOptions.url?.startsWith(routes.getRunner.path) &&
      pathRunnerId !== principal.runnerId
    ) {
      throw new BorgError('FORBIDDEN', 'a runner token acts only for its own runner');
    }
  };
}

function isWebSocketUpgrade(request: FastifyRequest): boolean {
  return request.routeOptions.url === '/ws' && request.headers.upgrade?.toLowerCase() === 'websocket';
}

/**
 * `?token=` on /ws alone, as the design's contract names it; Borg's own clients never send it
 * (a URL ends up in proxy logs and browser history), and it is redacted from the log.
 */
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
