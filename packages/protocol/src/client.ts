import type { z } from 'zod';

import { ErrorBody, OkResponse } from './schemas/common.ts';
import { page } from './schemas/common.ts';
import { Artifact, ArtifactList, FileInfo } from './schemas/files.ts';
import { type CreateJobRequest, Job, JobPage, JobWithTasks, type ListJobsQuery, Task } from './schemas/jobs.ts';
import { type AppendLogsRequest, AppendLogsResponse, LogPage } from './schemas/logs.ts';
import {
  type HeartbeatRequest,
  HeartbeatResponse,
  NextTasksResponse,
  type RegisterRunnerRequest,
  RegisterRunnerResponse,
  Runner,
  RunnerTasks,
} from './schemas/runners.ts';
import { Stats, StatsTimeseries, type TimeseriesQuery } from './schemas/stats.ts';
import { type TaskStatusRequest, TaskStatusResponse } from './schemas/tasks.ts';
import { CreatedToken, type CreateTokenRequest, TokenInfo, TokenList } from './schemas/tokens.ts';

/** A non-2xx answer from the mothership, carrying its error code and message. */
export class BorgApiError extends Error {
  /** How long the server asked the client to wait before trying again (its Retry-After), if it did. */
  retryAfterSeconds?: number;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'BorgApiError';
  }
}

export interface BorgClientOptions {
  /** The mothership's address, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  token?: string;
  /** Swap in another fetch (a test's, or one with a dispatcher); defaults to the global one. */
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | boolean | undefined>;

/** A request body streamed by hand, of known length (see `uploadFile` with `onChunk`). */
interface StreamBody {
  stream: ReadableStream<Uint8Array>;
  contentType: string;
  length: number;
}

interface RequestOptions<T extends z.ZodType> {
  body?: unknown;
  form?: FormData;
  stream?: StreamBody;
  query?: Query;
  schema: T;
  signal?: AbortSignal;
  /** Statuses that mean "nothing" rather than an error; they resolve to null. */
  emptyOn?: number[];
}

/**
 * A typed client for every `/api/v1` route. Each answer is checked against its schema, so a
 * server and a client that disagree fail loudly at the boundary instead of deep inside.
 */
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

  // --- user routes -------------------------------------------------------------------------

  stats() {
    return this.request('GET', '/api/v1/stats', { schema: Stats });
  }

  statsTimeseries(query: TimeseriesQuery = {}) {
    return this.request('GET', '/api/v1/stats/timeseries', { query: { ...query }, schema: StatsTimeseries });
  }

  createJob(job: CreateJobRequest) {
    return this.request('POST', '/api/v1/jobs', { body: job, schema: Job });
  }

  listJobs(query: ListJobsQuery = {}) {
    const { status, ...rest } = query;
    const statusParam = Array.isArray(status) ? status.join(',') : status;
    return this.request('GET', '/api/v1/jobs', { query: { ...rest, status: statusParam }, schema: JobPage });
  }

  getJob(id: string) {
    return this.request('GET', `/api/v1/jobs/${enc(id)}`, { schema: JobWithTasks });
  }

  pauseJob(id: string) {
    return this.request('POST', `/api/v1/jobs/${enc(id)}/pause`, { schema: Job });
  }

  resumeJob(id: string) {
    return this.request('POST', `/api/v1/jobs/${enc(id)}/resume`, { schema: Job });
  }

  cancelJob(id: string) {
    return this.request('POST', `/api/v1/jobs/${enc(id)}/cancel`, { schema: Job });
  }

  retryJob(id: string) {
    return this.request('POST', `/api/v1/jobs/${enc(id)}/retry`, { schema: Job });
  }

  listRunners(query: { limit?: number; cursor?: string } = {}) {
    return this.request('GET', '/api/v1/runners', { query, schema: page(Runner) });
  }

  getRunner(id: string) {
    return this.request('GET', `/api/v1/runners/${enc(id)}`, { schema: Runner });
  }

  /** The tasks the runner holds now. */
  runnerTasks(id: string) {
    return this.request('GET', `/api/v1/runners/${enc(id)}/tasks`, { schema: RunnerTasks });
  }

  drainRunner(id: string) {
    return this.request('POST', `/api/v1/runners/${enc(id)}/drain`, { schema: Runner });
  }

  resumeRunner(id: string) {
    return this.request('POST', `/api/v1/runners/${enc(id)}/resume`, { schema: Runner });
  }

  getTask(id: string) {
    return this.request('GET', `/api/v1/tasks/${enc(id)}`, { schema: Task });
  }

  getTaskLogs(taskId: string, query: { after?: number; limit?: number } = {}) {
    return this.request('GET', `/api/v1/tasks/${enc(taskId)}/logs`, { query, schema: LogPage });
  }

  listArtifacts(taskId: string) {
    return this.request('GET', `/api/v1/tasks/${enc(taskId)}/artifacts`, { schema: ArtifactList });
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
  ) {
    if (!options.onChunk) {
      const form = new FormData();
      form.append('file', content, filename);
      return this.request('POST', '/api/v1/files', { form, schema: FileInfo, signal: options.signal });
    }
    const stream = multipartFileBody(content, filename, options.onChunk);
    return this.request('POST', '/api/v1/files', { stream, schema: FileInfo, signal: options.signal });
  }

  getFile(id: string) {
    return this.request('GET', `/api/v1/files/${enc(id)}`, { schema: FileInfo });
  }

  /** The raw response, so callers can stream the body to disk. */
  async downloadFile(id: string, signal?: AbortSignal): Promise<Response> {
    const response = await this.send('GET', `/api/v1/files/${enc(id)}/download`, { signal });
    if (!response.ok) throw await toApiError(response);
    return response;
  }

  listTokens() {
    return this.request('GET', '/api/v1/tokens', { schema: TokenList });
  }

  createToken(request: CreateTokenRequest) {
    return this.request('POST', '/api/v1/tokens', { body: request, schema: CreatedToken });
  }

  revokeToken(id: string) {
    return this.request('DELETE', `/api/v1/tokens/${enc(id)}`, { schema: TokenInfo });
  }

  // --- runner routes (called by the solder with its runner token) -------------------------------

  register(request: RegisterRunnerRequest) {
    return this.request('POST', '/api/v1/runners/register', { body: request, schema: RegisterRunnerResponse });
  }

  heartbeat(runnerId: string, request: HeartbeatRequest) {
    return this.request('POST', `/api/v1/runners/${enc(runnerId)}/heartbeat`, {
      body: request,
      schema: HeartbeatResponse,
    });
  }

  /** Claims up to `max` tasks, holding the request up to `wait` seconds; null when none came. */
  nextTasks(runnerId: string, options: { wait?: number; max?: number; signal?: AbortSignal } = {}) {
    return this.request('GET', `/api/v1/runners/${enc(runnerId)}/tasks/next`, {
      query: { wait: options.wait, max: options.max },
      schema: NextTasksResponse,
      signal: options.signal,
      emptyOn: [204],
    });
  }

  reportTaskStatus(taskId: string, request: TaskStatusRequest) {
    return this.request('POST', `/api/v1/tasks/${enc(taskId)}/status`, { body: request, schema: TaskStatusResponse });
  }

  appendTaskLogs(taskId: string, request: AppendLogsRequest) {
    return this.request('POST', `/api/v1/tasks/${enc(taskId)}/logs`, { body: request, schema: AppendLogsResponse });
  }

  uploadArtifact(taskId: string, path: string, content: Blob) {
    const form = new FormData();
    // The fields go first: the server checks them before it accepts a byte of the file.
    form.append('task_id', taskId);
    form.append('path', path);
    form.append('file', content, path.split('/').pop() ?? 'artifact');
    return this.request('POST', '/api/v1/artifacts/upload', { form, schema: Artifact });
  }

  health() {
    return this.request('GET', '/healthz', { schema: OkResponse });
  }

  // --- plumbing ----------------------------------------------------------------------------------

  async request<T extends z.ZodType>(
    method: string,
    path: string,
    options: RequestOptions<T> & { emptyOn: number[] },
  ): Promise<z.infer<T> | null>;
  async request<T extends z.ZodType>(method: string, path: string, options: RequestOptions<T>): Promise<z.infer<T>>;
  async request<T extends z.ZodType>(method: string, path: string, options: RequestOptions<T>) {
    const response = await this.send(method, path, options);
    if (options.emptyOn?.includes(response.status)) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) throw await toApiError(response);
    const parsed = options.schema.safeParse(await response.json());
    if (!parsed.success) {
      throw new BorgApiError(
        response.status,
        'BAD_RESPONSE',
        `unexpected answer from ${method} ${path}: ${parsed.error.message}`,
      );
    }
    return parsed.data;
  }

  private send(
    method: string,
    path: string,
    options: { body?: unknown; form?: FormData; stream?: StreamBody; query?: Query; signal?: AbortSignal },
  ): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | FormData | ReadableStream<Uint8Array> | undefined;
    if (options.stream) {
      headers['content-type'] = options.stream.contentType;
      headers['content-length'] = String(options.stream.length);
      body = options.stream.stream;
    } else if (options.form) {
      body = options.form;
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: options.signal };
    // What fetch requires of a streamed body (not yet in the DOM typings).
    if (options.stream) init.duplex = 'half';
    if (body !== undefined) {
      // Node's fetch (undici 6) clones every request with a body in case it must follow a
      // redirect, and the clone tees the body: the branch that is never read keeps every chunk,
      // so a 200 MB upload held 210 MB of memory (nodejs/undici#4058). It skips the clone when
      // redirects are errors and there is no window, which also suits an API that never
      // redirects. Measured on a 200 MB upload: peak RSS 283 MB before, 90 MB after.
      init.redirect = 'error';
      init.window = null;
    }
    return this.fetchImpl(url, init);
  }
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

async function toApiError(response: Response): Promise<BorgApiError> {
  const error = await errorOf(response);
  // Only the delay-seconds form; Borg never sends the HTTP-date one.
  const retryAfter = Number(response.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) error.retryAfterSeconds = retryAfter;
  return error;
}

async function errorOf(response: Response): Promise<BorgApiError> {
  const text = await response.text();
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) {
      const { code, message, details } = parsed.data.error;
      return new BorgApiError(response.status, code, message, details);
    }
  } catch {
    // not JSON: fall through to a generic error
  }
  return new BorgApiError(response.status, `HTTP_${response.status}`, text.slice(0, 200) || response.statusText);
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}
