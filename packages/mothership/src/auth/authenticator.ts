import type { Database } from '../db/database.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { Principal } from './principal.ts';
import { hashToken, MAX_TOKEN_LENGTH } from './token-secret.ts';
import { tokenStore } from './token-store.ts';

/** How long a verified token is trusted without asking the database again. */
const CACHE_TTL_MS = 5_000;
/**
 * Runner tokens never expire and every revocation of one (re-registration, revoke) clears the
 * cache on every replica through the bus, so they are trusted longer than the ~15 s between a
 * runner's calls (heartbeat, long-poll), and most of those calls need no token query.
 */
const RUNNER_CACHE_TTL_MS = 30_000;
/** Touches (last_used_at) are written together, once a second at most, in one statement. */
const TOUCH_FLUSH_MS = 1_000;
const CACHE_MAX_ENTRIES = 20_000;
/** last_used_at is a hint for humans; writing it on every request would double the write load. */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * How long a token that worked counts as "recently valid": an address blocked for failed
 * logins still gets such tokens checked, so a runner behind the attacker's NAT keeps working.
 * An hour covers any heartbeat interval.
 */
const RECENTLY_VALID_MS = 60 * 60_000;

/**
 * Turns a bearer token into a principal. Lookups go by SHA-256, so comparing secrets never
 * happens byte by byte in JavaScript (no timing oracle). A short cache keeps the hot runner
 * routes (claim, logs, status) from paying a query each; revocation clears it through the bus,
 * on every replica.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();
  private readonly touchedAt = new Map<string, number>();
  private readonly validUntil = new Map<string, number>();
  private readonly toTouch = new Set<string>();
  private touchTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Database,
    bus: EventBus,
  ) {
    bus.on('token.revoked', () => this.cache.clear());
  }

  async authenticate(token: string | undefined): Promise<Principal | null> {
    if (!token || token.length > MAX_TOKEN_LENGTH) return null;
    const hash = hashToken(token);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;

    const principal = await tokenStore.findActiveByHash(this.db, hash);
    if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
    // Misses are cached too, so a flood of bad tokens cannot turn into a flood of queries.
    this.cache.set(hash, {
      principal,
      until: now + (principal?.kind === 'runner' ? RUNNER_CACHE_TTL_MS : CACHE_TTL_MS),
    });
    if (principal) {
      this.touch(principal.tokenId, now);
      if (this.validUntil.size >= CACHE_MAX_ENTRIES) this.validUntil.clear();
      this.validUntil.set(hash, now + RECENTLY_VALID_MS);
    }
    return principal;
  }

  /**
   * Whether this token authenticated within the last hour. Only a hint for the rate limiter:
   * the token is still checked in full (it may have been revoked since).
   */
  recentlyValid(token: string | undefined): boolean {
    if (!token || token.length > MAX_TOKEN_LENGTH) return false;
    return (this.validUntil.get(hashToken(token)) ?? 0) > Date.now();
  }

  /** Forget everything at once (after a revocation or a runner re-registering). */
  invalidate(): void {
    this.cache.clear();
  }

  private touch(tokenId: string, now: number): void {
    if ((this.touchedAt.get(tokenId) ?? 0) + TOUCH_INTERVAL_MS > now) return;
    if (this.touchedAt.size >= CACHE_MAX_ENTRIES) this.touchedAt.clear();
    this.touchedAt.set(tokenId, now);
    this.toTouch.add(tokenId);
    // One UPDATE per flush for every token touched meanwhile, not one per token.
    this.touchTimer ??= setTimeout(() => this.flushTouches(), TOUCH_FLUSH_MS);
    this.touchTimer.unref();
  }

  private flushTouches(): void {
    this.touchTimer = null;
    const ids = [...this.toTouch];
    this.toTouch.clear();
    tokenStore.touch(this.db, ids).catch(() => undefined); // best effort
  }
}

/** Reads `Authorization: Bearer <token>`; anything else is no token at all. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header.trim());
  return match?.[1];
}
