/**
 * Gives every API call a deadline: `timeoutMs`, plus the wait of a long-poll. Without one, a
 * request the mothership accepted but never answers (a frozen or half-restarted server, a
 * half-open connection after a network fault) would hold the heartbeat or claim loop for
 * undici's 300 s header timeout, long enough for the runner to be declared offline and its tasks
 * lost. A call that runs out of time fails as transient (`TimeoutError`) and is retried like any
 * network error. Transfers of unbounded size (input downloads, uploads: any body but a JSON
 * string) are left to undici's idle timeouts, since a large file may rightly take longer than
 * any fixed deadline.
 */
export function withDeadlines(fetchImpl: typeof fetch, timeoutMs: number): typeof fetch {
  return (input, init) => {
    // Not `instanceof Request`: naming Request loads undici, which httpFetch spares the solder.
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const small = init?.body === undefined || init.body === null || typeof init.body === 'string';
    if (!small || url.pathname.endsWith('/download')) return fetchImpl(input, init);
    const deadline = new AbortController();
    // A timer, not AbortSignal.timeout(): combined by AbortSignal.any(), a timeout signal nothing
    // else references can be garbage-collected before it fires (Node 20), and the call then never
    // ends. The timer holds its controller until it fires or the call settles.
    const timer = setTimeout(
      () => deadline.abort(new DOMException('the mothership did not answer in time', 'TimeoutError')),
      Number(url.searchParams.get('wait') ?? 0) * 1000 + timeoutMs,
    );
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    return fetchImpl(input, { ...init, signal }).finally(() => clearTimeout(timer));
  };
}
