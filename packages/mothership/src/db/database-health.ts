/**
 * Remembers when the database last failed us, or the mothership could not keep up (long-polls
 * shed, a stalled round, a late timer). Decisions that read "this runner has been silent" as
 * "this runner is gone" are unsafe right after such a time, when the silence was ours: the
 * reaper consults this before acting.
 */
export class DatabaseHealth {
  private lastFailure = -Infinity;

  noteFailure(): void {
    this.lastFailure = performance.now();
  }

  /** Milliseconds since the last failure (monotonic clock, immune to wall-clock jumps). */
  msSinceFailure(): number {
    return performance.now() - this.lastFailure;
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006', // connection failures
  '53300', // too_many_connections
]);

/** True for errors that mean "the database is unreachable", as opposed to a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code;
  if (code && CONNECTION_ERROR_CODES.has(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i.test(
    error.message,
  );
}
