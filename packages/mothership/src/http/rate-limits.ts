import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { BorgError } from '../errors.ts';

const MINUTE_MS = 60_000;

/** Counts failed authentications per client address and says when an address has had enough. */
export interface AuthFailureLimiter {
  /** Seconds until this request's address may present unproven tokens again; 0 when it may now. */
  blockedFor(request: FastifyRequest): Promise<number>;
  noteFailure(request: FastifyRequest): Promise<void>;
}

export function rateLimited(what: string, seconds: number): BorgError {
  return new BorgError('RATE_LIMITED', `${what}; retry in ${seconds} s`, { retry_after_seconds: seconds });
}

/**
 * Per-address limits (test plan A13, brute force), kept in each replica's memory:
 * - failed authentications: past the limit an address gets 429 for the rest of the minute,
 *   unless it presents a token that recently worked (see the auth hook), so runners and users
 *   that share the address with an attacker (a NAT, a proxy) keep working;
 * - registrations: a flood of new runners from one address, valid token or not.
 * Heartbeats, claims, logs and every other call with a valid token are never counted.
 *
 * Returns the failure limiter the auth hook consults, or null when that limit is off.
 */
export async function installRateLimits(
  app: FastifyInstance,
  limits: { authFailuresPerMinute: number; registrationsPerMinute: number },
): Promise<AuthFailureLimiter | null> {
  await app.register(rateLimit, {
    global: false,
    // The default key is the client address; an IPv6 client is keyed by its /64, since it can
    // change the rest of its address at will.
    errorResponseBuilder: (_request, context) =>
      rateLimited('too many runner registrations from this address', Math.max(1, Math.ceil(context.ttl / 1000))),
  });

  if (limits.registrationsPerMinute > 0) {
    const limitRegistrations = app.rateLimit({ max: limits.registrationsPerMinute, timeWindow: MINUTE_MS });
    // Applied to every route whose access is 'registration' as it is added, so a route that
    // registers runners cannot be added without the limit.
    app.addHook('onRoute', (route) => {
      if (route.config?.access !== 'registration') return;
      const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
      route.onRequest = [limitRegistrations, ...existing] as typeof route.onRequest;
    });
  }

  if (limits.authFailuresPerMinute <= 0) return null;
  const failures = app.createRateLimit({ max: limits.authFailuresPerMinute, timeWindow: MINUTE_MS });
  return {
    async blockedFor(request) {
      const state = await failures(request, { increment: false });
      if (state.isAllowed || state.remaining > 0 || state.ttl <= 0) return 0;
      return Math.max(1, state.ttlInSeconds);
    },
    async noteFailure(request) {
      await failures(request);
    },
  };
}

/** Whether a request carried any credential (a refused one counts as a guess; none does not). */
export function presentedCredential(request: FastifyRequest): boolean {
  if (request.headers.authorization) return true;
  const query = request.query as { token?: unknown } | undefined;
  const body = request.body as { token?: unknown } | undefined;
  return (
    (request.routeOptions.url === '/ws' && typeof query?.token === 'string') ||
    (body !== null && typeof body === 'object' && typeof body.token === 'string')
  );
}
