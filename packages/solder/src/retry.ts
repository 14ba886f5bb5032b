import { BorgApiError, type ErrorCode } from '@borg/protocol';

/** Capped exponential backoff with equal jitter: attempt 0 waits ~base, then doubling up to cap. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000, random = Math.random): number {
  const nominal = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(nominal / 2 + (random() * nominal) / 2);
}

/** A server's Retry-After is obeyed up to this long; beyond it the solder's own backoff rules. */
const MAX_SERVER_DELAY_MS = 5 * 60_000;

/**
 * The wait before retrying after `error`: the jittered backoff, or longer when the server said
 * how long to wait (Retry-After on a 429 or 503), so a rate-limited solder does not come back
 * before its window has ended.
 */
export function retryDelayMs(error: unknown, attempt: number, baseMs = 500, capMs = 30_000): number {
  const backoff = backoffMs(attempt, baseMs, capMs);
  const asked = error instanceof BorgApiError ? (error.retryAfterSeconds ?? 0) * 1000 : 0;
  return Math.max(backoff, Math.min(asked, MAX_SERVER_DELAY_MS));
}

/**
 * Transient: worth retrying as it is (network trouble, the server or its database busy or
 * down). Everything else (4xx) is an answer, and retrying it would only repeat it.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof BorgApiError) return error.retryable;
  // A call that ran past its deadline (see with-deadlines.ts) is retried like a network error.
  if (error instanceof Error && error.name === 'TimeoutError') return true;
  return (
    error instanceof TypeError ||
    (error instanceof Error && /ECONN|EPIPE|ETIMEDOUT|socket|fetch failed|other side closed/i.test(error.message))
  );
}

export function hasCode(error: unknown, ...codes: ErrorCode[]): error is BorgApiError {
  return error instanceof BorgApiError && (codes as string[]).includes(error.code);
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Calls fn until it succeeds or fails with an error that is not transient, waiting between tries
 * for the jittered backoff or the server's Retry-After, whichever is longer (see retryDelayMs).
 * `onRetry` hears of each transient failure before its wait. When the signal aborts, the last
 * error is thrown and fn is not called again.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  options: { signal?: AbortSignal; capMs?: number; onRetry?: (error: unknown) => void } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransient(error) || options.signal?.aborted) throw error;
      options.onRetry?.(error);
      await sleep(retryDelayMs(error, attempt, 500, options.capMs ?? 30_000), options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}
