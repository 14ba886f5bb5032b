import type { z } from 'zod';

import { type ClientErrorCode, ErrorBody, type ErrorCode, isRetryableError } from './error-codes.ts';
import {
  type CallOptions,
  fillPath,
  pathParamNames,
  RAW_RESPONSE,
  type RouteArgs,
  type RouteDefinition,
  type RouteResult,
} from './route-definition.ts';
import { type Routes, routes } from './routes.ts';
import type { LogSearchDone, LogSearchMatch } from './schemas/log-search.ts';

/** A non-2xx answer from the mothership, carrying its error code and message. */
export class BorgApiError extends Error {
  /** How long the server asked the client to wait before trying again (its Retry-After), if it did. */
  retryAfterSeconds?: number;

  constructor(
    readonly status: number,
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'BorgApiError';
  }

  /** Nothing happened on the server, and the same request may succeed if sent again later. */
  get retryable(): boolean {
    return isRetryableError(this.code, this.status);
  }
}

export interface BorgClientOptions {
  /** The mothership's address, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  token?: string;
  /** Swap in another fetch (a test's, or one with a dispatcher); defaults to the global one. */
  fetch?: typeof fetch;
}

type Query = Record<string, unknown>;

/** A request body streamed by hand, of known length (see `uploadFile` with `onChunk`, `putFile`). */
interface StreamBody {
  stream: ReadableStream<Uint8Array> | Blob;
  contentType: string;
  length: number;
}

/** What a raw upload may add: a hash for the server to check, a hook on each chunk sent, a signal. */
export interface RawUploadOptions {
  /** The sha256 of the content, in hex: the server refuses a body that does not have it and keeps nothing. */
  sha256?: string;
  /** Sees each chunk of the content as it leaves (a progress bar, a running sha256). */
  onChunk?: (chunk: Uint8Array) => void;
  signal?: AbortSignal;
}

interface SendOptions {
  body?: unknown;
  form?: FormData;
  stream?: StreamBody;
  query?: Query;
  signal?: AbortSignal;
}

/** Routes whose client method is hand-written below: multipart and raw bodies, raw answers. */
type HandWritten = {
  [K in keyof Routes]: Routes[K] extends
    { bodyKind: 'multipart' | 'octet-stream' } | { responses: { 200: typeof RAW_RESPONSE } }
    ? K
    : never;
}[keyof Routes];

/** One method per JSON route of the table, named after its operation. */
export type RouteMethods = {
  [K in Exclude<keyof Routes, HandWritten>]: (...args: RouteArgs<Routes[K]>) => Promise<RouteResult<Routes[K]>>;
};

/**
 * A typed client for every route of the table in `routes.ts`: each JSON operation is a method
 * of the same name taking its path parameters, then its body (or query), then options. Each
 * answer is checked against its schema, so a server and a client that disagree fail loudly at
 * the boundary instead of deep inside.
 */
// The JSON methods are put on the prototype from the route table, after the class; this
// interface gives them their types.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface BorgClient extends RouteMethods {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class BorgClient {
  readonly baseUrl: string;
  token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: BorgClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  withToken(token: string): BorgClient {
    return new BorgClient({ baseUrl: this.baseUrl, token, fetch: this.fetchImpl });
  }

  /**
   * Uploads a file as the multipart field `file`. With `onChunk`, the multipart body is streamed
   * by hand so the caller sees each chunk of the file as it leaves (a progress bar, a running
   * sha256); FormData gives no such hook. That needs streaming request bodies: Node has them,
   * browsers only over HTTP/2, so the dashboard leaves `onChunk` out.
   */
  uploadFile(
    content: Blob,
    filename: string,
    options: { onChunk?: (chunk: Uint8Array) => void; signal?: AbortSignal } = {},
  ): Promise<RouteResult<Routes['uploadFile']>> {
    if (!options.onChunk) {
      const form = new FormData();
      form.append('file', content, filename);
      return this.call(routes.uploadFile, [], { form, signal: options.signal });
    }
    const stream = multipartFileBody(content, filename, options.onChunk);
    return this.call(routes.uploadFile, [], { stream, signal: options.signal });
  }

  uploadArtifact(taskId: string, path: string, content: Blob): Promise<RouteResult<Routes['uploadArtifact']>> {
    const form = new FormData();
    // The fields go first: the server checks them before it accepts a byte of the file.
    form.append('task_id', taskId);
    form.append('path', path);
    form.append('file', content, path.split('/').pop() ?? 'artifact');
    return this.call(routes.uploadArtifact, [], { form });
  }

  /**
   * Uploads a file as the raw body of `PUT /files`: the bytes as they are, no multipart framing,
   * so the server streams them straight to storage. Node streams the blob from disk; a browser
   * can send a Blob too (only `onChunk`, which needs a streamed request body, is Node's alone).
   */
  putFile(content: Blob, filename: string, options: RawUploadOptions = {}): Promise<RouteResult<Routes['putFile']>> {
    const { sha256, onChunk, signal } = options;
    return this.call(routes.putFile, [], {
      stream: rawBody(content, onChunk),
      query: { filename, size: content.size, sha256 },
      signal,
    });
  }

  /** Uploads an artifact of a held task as the raw body of `PUT /artifacts/upload`. */
  putArtifact(
    taskId: string,
    path: string,
    content: Blob,
    options: RawUploadOptions = {},
  ): Promise<RouteResult<Routes['putArtifact']>> {
    const { sha256, onChunk, signal } = options;
    return this.call(routes.putArtifact, [], {
      stream: rawBody(content, onChunk),
      query: { task_id: taskId, path, size: content.size, sha256 },
      signal,
    });
  }

  /** The raw response, so callers can stream the body to disk. */
  downloadFile(id: string, signal?: AbortSignal): Promise<Response> {
    return this.callRaw(routes.downloadFile, [id], { signal });
  }

  /** A job's log search (GET /jobs/:id/logs/search): each match as the server finds it, then the last line. */
  async *searchJobLogs(
    id: string,
    query: { q: string; stream?: 'stdout' | 'stderr'; limit?: number },
    signal?: AbortSignal,
  ): AsyncGenerator<LogSearchMatch | LogSearchDone> {
    const response = await this.callRaw(routes.searchJobLogs, [id], { query, signal });
    const decoder = new TextDecoder();
    let buffered = '';
    const reader = response.body?.getReader();
    for (let read = await reader?.read(); read && !read.done; read = await reader!.read()) {
      buffered += decoder.decode(read.value, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line) yield JSON.parse(line) as LogSearchMatch | LogSearchDone;
      }
    }
  }

  /** Prometheus metrics as text. */
  async metrics(options: CallOptions = {}): Promise<string> {
    return (await this.callRaw(routes.metrics, [], options)).text();
  }

  // --- plumbing ----------------------------------------------------------------------------------

  /** Calls a JSON route: fills its path, sends the payload, checks the answer against its schema. */
  async call<R extends RouteDefinition>(
    definition: R,
    pathValues: readonly string[],
    options: SendOptions = {},
  ): Promise<RouteResult<R>> {
    const where = `${definition.method} ${definition.path}`;
    const response = await this.send(definition.method, fillPath(definition.path, pathValues), options);
    if (!response.ok) throw await toApiError(response);
    const schema = definition.responses[response.status];
    if (schema === undefined || schema === RAW_RESPONSE) {
      await response.body?.cancel();
      throw new BorgApiError(response.status, 'BAD_RESPONSE', `unexpected status ${response.status} from ${where}`);
    }
    if (isNullSchema(schema)) {
      await response.body?.cancel();
      return null as RouteResult<R>;
    }
    const parsed = schema.safeParse(await response.json());
    if (!parsed.success) {
      throw new BorgApiError(
        response.status,
        'BAD_RESPONSE',
        `unexpected answer from ${where}: ${parsed.error.message}`,
      );
    }
    return parsed.data as RouteResult<R>;
  }

  /** Calls a route whose answer is not JSON and returns the response itself once it is a success. */
  async callRaw(definition: RouteDefinition, pathValues: readonly string[], options: SendOptions = {}) {
    const response = await this.send(definition.method, fillPath(definition.path, pathValues), options);
    if (!response.ok) throw await toApiError(response);
    return response;
  }

  private send(method: string, path: string, options: SendOptions): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value === undefined) continue;
      url.searchParams.set(key, Array.isArray(value) ? value.join(',') : String(value));
    }
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | FormData | ReadableStream<Uint8Array> | Blob | undefined;
    if (options.stream) {
      headers['content-type'] = options.stream.contentType;
      // fetch gives a blob's length itself; a stream's it cannot know.
      if (options.stream.stream instanceof ReadableStream) headers['content-length'] = String(options.stream.length);
      body = options.stream.stream;
    } else if (options.form) {
      body = options.form;
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: options.signal };
    // What fetch requires of a streamed body (not yet in the DOM typings).
    if (body instanceof ReadableStream) init.duplex = 'half';
    if (body !== undefined) {
      // Node's fetch clones a request with a body in case it must follow a redirect, and the
      // clone's unread branch keeps every chunk of an upload in memory (nodejs/undici#4058). It
      // skips the clone when redirects are errors and there is no window; the API never redirects.
      init.redirect = 'error';
      init.window = null;
    }
    return this.fetchImpl(url, init);
  }
}

/**
 * The JSON methods, one per route of the table: the path parameters come first, then the body
 * when the route takes one, else the query, then the call options.
 */
for (const [name, definition] of Object.entries(routes) as [string, RouteDefinition][]) {
  if (name in BorgClient.prototype) continue;
  const paramCount = pathParamNames(definition.path).length;
  Object.defineProperty(BorgClient.prototype, name, {
    value(this: BorgClient, ...args: unknown[]) {
      const pathValues = args.slice(0, paramCount) as string[];
      const rest = args.slice(paramCount);
      const body = definition.body ? rest.shift() : undefined;
      const query = definition.query ? (rest.shift() as Query | undefined) : undefined;
      const { signal } = (rest.shift() ?? {}) as CallOptions;
      return this.call(definition, pathValues, { body, query, signal });
    },
  });
}

function isNullSchema(schema: z.ZodType): boolean {
  return (schema as { def?: { type?: string } }).def?.type === 'null';
}

/**
 * `multipart/form-data` with one part, the field `file`, as a stream: the header, the blob's
 * bytes (each handed to `onChunk` on its way out), the closing boundary. Quotes and line breaks
 * in the name are percent-encoded, as browsers do.
 */
function multipartFileBody(content: Blob, filename: string, onChunk: (chunk: Uint8Array) => void): StreamBody {
  const boundary = `----borg-${crypto.randomUUID()}`;
  const name = filename.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const encoder = new TextEncoder();
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const file = content.stream().getReader();
  let stage: 'head' | 'file' | 'done' = 'head';
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stage === 'head') {
        stage = 'file';
        return controller.enqueue(head);
      }
      if (stage === 'done') return;
      const { done, value } = await file.read();
      if (done) {
        stage = 'done';
        controller.enqueue(tail);
        return controller.close();
      }
      onChunk(value);
      controller.enqueue(value);
    },
    cancel: (reason) => file.cancel(reason),
  });
  return {
    stream,
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: head.byteLength + content.size + tail.byteLength,
  };
}

/** A blob as a raw request body: as it is, or through a stream that shows each chunk to `onChunk`. */
function rawBody(content: Blob, onChunk?: (chunk: Uint8Array) => void): StreamBody {
  const contentType = 'application/octet-stream';
  if (!onChunk) return { stream: content, contentType, length: content.size };
  const file = content.stream().getReader();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await file.read();
      if (done) return controller.close();
      onChunk(value);
      controller.enqueue(value);
    },
    cancel: (reason) => file.cancel(reason),
  });
  return { stream, contentType, length: content.size };
}

async function toApiError(response: Response): Promise<BorgApiError> {
  const error = await errorOf(response);
  // Only the delay-seconds form; Borg never sends the HTTP-date one.
  const retryAfter = Number(response.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) error.retryAfterSeconds = retryAfter;
  return error;
}

async function errorOf(response: Response): Promise<BorgApiError> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: something other than the mothership answered
  }
  const parsed = ErrorBody.safeParse(body);
  if (parsed.success) {
    const { code, message, details } = parsed.data.error;
    return new BorgApiError(response.status, code, message, details);
  }
  // A newer mothership's code this client does not know keeps its message, and is judged by status.
  const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return new BorgApiError(
    response.status,
    'UNEXPECTED_RESPONSE',
    typeof message === 'string' ? message : text.slice(0, 200) || response.statusText,
  );
}
