import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/**
 * A `fetch` for `BorgClient` in Node (the CLI and the solder): a request with no body or a JSON
 * string goes out on `node:http` (or `node:https`); anything else (a multipart upload, a streamed
 * body) and any redirect goes to the global fetch. Node's fetch is undici, which Node compiles
 * on first use: it was the largest part of a one-shot command's start (~100 ms of CPU on Node
 * 24; on Node 20 it also held the process ~170 ms at exit) and ~13 MB of an idle solder's RSS
 * on Node 20 (~33 MB on Node 24), for small JSON requests. What callers read of a response (ok,
 * status, statusText, headers.get, json, text, body as a web stream) behaves as fetch's, and
 * failures reject as fetch's do: a TypeError `fetch failed` whose cause is the socket's error
 * (or the signal's reason when it was aborted), `terminated` when the body breaks off. As with
 * undici, a connection silent for 300 s fails. Node-only: a subpath (`@borg/protocol/http-fetch`)
 * that the dashboard never loads.
 */
export const httpFetch: typeof fetch = async (input, init = {}) => {
  const body = init.body;
  const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : null;
  if (!url || (body !== undefined && body !== null && typeof body !== 'string')) return fetch(input, init);
  const response = await send(url, init, body ?? undefined);
  if (REDIRECTS.has(response.statusCode ?? 0)) {
    response.resume();
    return fetch(input, init);
  }
  return new HttpResponse(response, init.signal ?? undefined) as unknown as Response;
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** undici's headers and body timeouts. */
const IDLE_TIMEOUT_MS = 300_000;

function send(url: URL, init: RequestInit, text: string | undefined): Promise<IncomingMessage> {
  // Not `import`: an ES import of node:http fills its namespace, and Node 24's has getters
  // (WebSocket, …) that load undici, the very thing this module avoids.
  const { request } = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http');
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();
  const headers = plainHeaders(init.headers);
  // Encoded once: JSON.stringify's result is a rope of parts, which measuring its UTF-8 length and
  // then writing it would each flatten and encode (a log batch is up to 1 MiB).
  const body = text === undefined ? undefined : Buffer.from(text);
  if (body !== undefined) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: init.method ?? 'GET', headers, timeout: IDLE_TIMEOUT_MS }, resolve);
    const onAbort = () => outgoing.destroy(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.once('close', () => signal?.removeEventListener('abort', onAbort));
    outgoing.once('timeout', () =>
      outgoing.destroy(Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })),
    );
    outgoing.once('error', (error) =>
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error })),
    );
    outgoing.end(body);
  });
}

/** A record, an array of pairs or a Headers object (which is undici's: not named here) as a record. */
function plainHeaders(headers: HeadersInit | undefined): Record<string, string> {
  const plain: Record<string, string> = {};
  if (!headers) return plain;
  if (Array.isArray(headers)) {
    for (const [name, value] of headers) plain[name.toLowerCase()] = value;
  } else if (typeof (headers as Headers).forEach === 'function') {
    (headers as Headers).forEach((value, name) => (plain[name] = value));
  } else {
    for (const [name, value] of Object.entries(headers)) plain[name.toLowerCase()] = value;
  }
  return plain;
}

/** The part of a fetch Response that Borg's clients read. */
class HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  private stream: ReadableStream<Uint8Array> | undefined;

  constructor(
    private readonly incoming: IncomingMessage,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.status = incoming.statusCode ?? 0;
    this.statusText = incoming.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = {
      get: (name) => {
        const value = incoming.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    };
  }

  /** The body as a web stream, as fetch gives it (a download is streamed to disk from it). */
  get body(): ReadableStream<Uint8Array> {
    this.stream ??= Readable.toWeb(this.incoming) as ReadableStream<Uint8Array>;
    return this.stream;
  }

  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.incoming) chunks.push(chunk as Buffer);
    } catch (error) {
      throw this.signal?.aborted ? this.signal.reason : new TypeError('terminated', { cause: error });
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}
