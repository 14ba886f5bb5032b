import { createServer, type Server } from 'node:http';

import { BorgApiError, BorgClient } from '@borg/protocol';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { backoffMs, isTransient, retryDelayMs, withRetry } from '../src/retry.ts';

/**
 * A solder told to wait (429 or 503 with Retry-After, as the mothership's rate limits and
 * database outages answer) waits at least that long, and never less than its own backoff.
 */
describe('retry delays', () => {
  let server: Server;
  let url: string;
  let retryAfter: string | null = '7';

  beforeAll(async () => {
    server = createServer((_request, response) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (retryAfter !== null) headers['retry-after'] = retryAfter;
      response.writeHead(429, headers);
      response.end(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  async function refusal(): Promise<BorgApiError> {
    const error = await new BorgClient({ baseUrl: url, token: 't' }).listJobs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BorgApiError);
    return error as BorgApiError;
  }

  it("carries the server's Retry-After on the error, and waits at least that long", async () => {
    retryAfter = '7';
    const error = await refusal();
    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBe(7);
    expect(isTransient(error)).toBe(true);
    for (let attempt = 0; attempt < 5; attempt++) expect(retryDelayMs(error, attempt)).toBeGreaterThanOrEqual(7_000);
  });

  it('keeps its own backoff when that is longer, or when the server named no delay', async () => {
    retryAfter = '1';
    const short = await refusal();
    expect(retryDelayMs(short, 10, 500, 30_000)).toBeGreaterThanOrEqual(15_000); // backoff at attempt 10: 15-30 s
    retryAfter = null;
    const silent = await refusal();
    expect(silent.retryAfterSeconds).toBeUndefined();
    const delay = retryDelayMs(silent, 0, 500, 30_000);
    expect(delay).toBeGreaterThanOrEqual(250);
    expect(delay).toBeLessThanOrEqual(500);
    expect(retryDelayMs(new TypeError('fetch failed'), 2)).toBeLessThanOrEqual(backoffMs(2, 500, 30_000, () => 1));
  });

  it('obeys an absurd Retry-After only up to five minutes, and ignores a malformed one', async () => {
    retryAfter = '86400';
    expect(retryDelayMs(await refusal(), 0)).toBe(5 * 60_000);
    retryAfter = 'soon';
    expect((await refusal()).retryAfterSeconds).toBeUndefined();
  });
});

describe('withRetry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const unreachable = () => new TypeError('fetch failed');
  const busy = (retryAfterSeconds?: number) => {
    const error = new BorgApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unavailable');
    if (retryAfterSeconds !== undefined) error.retryAfterSeconds = retryAfterSeconds;
    return error;
  };

  /** fn fails with each of `errors` in turn, then answers 'done'. */
  function failingWith(...errors: Error[]) {
    return vi.fn(async () => {
      const error = errors.shift();
      if (error) throw error;
      return 'done';
    });
  }

  it('tries again after transient failures, telling onRetry of each, and returns the answer', async () => {
    const fn = failingWith(unreachable(), busy(), unreachable());
    const retried: unknown[] = [];
    const result = withRetry(fn, { onRetry: (error) => retried.push(error) });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('done');
    expect(fn).toHaveBeenCalledTimes(4);
    expect(retried.map((e) => (e as Error).message)).toEqual([
      'fetch failed',
      'the database is unavailable',
      'fetch failed',
    ]);
  });

  it("waits out the server's Retry-After before the next try", async () => {
    const fn = failingWith(busy(7));
    const result = withRetry(fn);
    await vi.advanceTimersByTimeAsync(6_900);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(fn).toHaveBeenCalledTimes(2);
    await expect(result).resolves.toBe('done');
  });

  it('never waits longer than capMs between tries when the server names no delay', async () => {
    const fn = failingWith(...Array.from({ length: 8 }, unreachable));
    const result = withRetry(fn, { capMs: 1_000 });
    await vi.advanceTimersByTimeAsync(8 * 1_000);
    await expect(result).resolves.toBe('done');
    expect(fn).toHaveBeenCalledTimes(9);
  });

  it('throws an answer that is not transient at once, without retrying', async () => {
    const refused = new BorgApiError(409, 'STALE_TASK', 'task t-1 was taken back');
    const fn = failingWith(refused);
    const onRetry = vi.fn();
    await expect(withRetry(fn, { onRetry })).rejects.toBe(refused);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('throws the last error, and calls fn no more, once the signal aborts during a wait', async () => {
    const last = unreachable();
    const fn = failingWith(last, unreachable());
    const stop = new AbortController();
    const result = withRetry(fn, { signal: stop.signal });
    const settled = expect(result).rejects.toBe(last);
    await vi.advanceTimersByTimeAsync(100);
    stop.abort();
    await settled;
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
