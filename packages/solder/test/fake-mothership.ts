import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  AppendLogsRequest,
  type ClaimedTask,
  ERROR_STATUS,
  type ErrorCode,
  type GpuSample,
  HeartbeatRequest,
  type LogStream,
  RegisterRunnerRequest,
  STREAM_OF_LETTER,
  TaskStatusRequest,
} from '@borg/protocol';
import type { z } from 'zod';

/**
 * A scriptable fake mothership over real HTTP, in the spirit of Buildkite's fake API server
 * (reliability plan H2). It speaks the runner half of the protocol (register, heartbeat, claim,
 * task status, task logs, artifact uploads) with the real server's rules where they matter to a
 * solder — tokens, fencing (409 STALE_TASK for a task taken back), log batches stored in order
 * exactly once (409 LOG_SEQUENCE_GAP with details.next_seq) — and lets a test make any route
 * misbehave. A task is handed out as submitted, secrets, missing secrets and assigned GPUs included.
 */

/**
 * `status` is one task's report, alone or inside a batch (`statuses`, POST /runners/:id/tasks/status):
 * each report of a batch is recorded and meets the `status` faults as a request of its own.
 */
export type Route = 'register' | 'heartbeat' | 'next' | 'status' | 'statuses' | 'logs' | 'artifact';

export type Fault =
  /** Answer this status with the API's error shape (and a Retry-After header when given). */
  | { kind: 'status'; status: number; code?: ErrorCode; details?: unknown; retryAfterSeconds?: number }
  /** Never answer (the connection stays open until the client gives up or the fake closes). */
  | { kind: 'hang' }
  /** Destroy the connection without a byte of answer. */
  | { kind: 'reset' }
  /** Wait, then handle the request normally. */
  | { kind: 'delay'; ms: number }
  /** Handle the request at once, but answer only after a while (it took effect; the client learns late). */
  | { kind: 'late-answer'; ms: number }
  /** Handle the request, but send only half of the answer's body, then drop the connection. */
  | { kind: 'truncate' };

export const fault = {
  status: (status: number, code?: ErrorCode, extra: { details?: unknown; retryAfterSeconds?: number } = {}) =>
    ({ kind: 'status', status, code, ...extra }) as const satisfies Fault,
  hang: { kind: 'hang' } as const satisfies Fault,
  reset: { kind: 'reset' } as const satisfies Fault,
  truncate: { kind: 'truncate' } as const satisfies Fault,
  delay: (ms: number) => ({ kind: 'delay', ms }) as const satisfies Fault,
  lateAnswer: (ms: number) => ({ kind: 'late-answer', ms }) as const satisfies Fault,
};

export interface RecordedRequest {
  route: Route | 'unknown';
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: unknown;
  /** performance.now() when the request arrived. */
  at: number;
  taskId?: string;
  /** A report that came inside a batch (`statuses`), recorded as a request of its own. */
  inBatch?: boolean;
}

interface ScriptedFault {
  fault: Fault;
  remaining: number;
  when?: (request: RecordedRequest) => boolean;
}

/** An artifact as the fake stored it: its path and what its bytes were. */
export interface StoredArtifact {
  path: string;
  size: number;
  sha256: string;
}

interface RecordedBatch {
  seq: number;
  packed: boolean;
  lines: Array<{ stream: LogStream; message: string; timestamp?: string | undefined }>;
}

/** A batch's lines as objects, from either form the route takes. */
function recorded(batch: z.output<typeof AppendLogsRequest>): RecordedBatch {
  if (batch.lines) return { seq: batch.seq, packed: false, lines: batch.lines };
  const { streams, messages, logged_at, offsets_ms } = batch.packed!;
  const first = logged_at === undefined ? undefined : Date.parse(logged_at);
  const lines = messages.map((message, i) => ({
    stream: STREAM_OF_LETTER[streams[i]!]!,
    message,
    timestamp: first === undefined ? undefined : new Date(first + (offsets_ms?.[i] ?? 0)).toISOString(),
  }));
  return { seq: batch.seq, packed: true, lines };
}

interface FakeTask {
  task: ClaimedTask;
  statuses: string[];
  /** Every status report as it was received (status, exit code, error). */
  reports: z.output<typeof TaskStatusRequest>[];
  artifacts: StoredArtifact[];
  /** Each stored batch with its lines one object each, however it came (`packed` says how). */
  batches: RecordedBatch[];
  /** The server took it back (lost, timed out elsewhere): every write about it is 409. */
  ended: boolean;
}

export interface FakeMothershipOptions {
  heartbeatIntervalSeconds?: number;
  /** 'hold' keeps a claim open up to its wait (a long-poll); 'instant' answers 204 at once (the seed's server). */
  longPoll?: 'hold' | 'instant';
}

export class FakeMothership {
  readonly registrationToken = `fake-reg-${randomBytes(8).toString('hex')}`;
  readonly runnerId = 'runner-1';
  /** The runner token last issued; null when revoked (every runner call is then 401). */
  runnerToken: string | null = null;
  /** Every runner token ever issued, so a test can look for them in places they must not be. */
  readonly issuedTokens: string[] = [];
  readonly requests: RecordedRequest[] = [];
  longPoll: 'hold' | 'instant';
  /** False: no batch route for status reports (404), as on a mothership older than it. */
  batchReports = true;
  /** False: a packed log batch is refused as invalid (400), as on a mothership older than the packed form. */
  packedLogs = true;
  private readonly faults = new Map<Route, ScriptedFault[]>();
  private readonly queue: ClaimedTask[] = [];
  private readonly tasks = new Map<string, FakeTask>();
  private readonly waiters = new Set<() => void>();
  private taskCount = 0;

  private readonly server: Server;
  url = '';

  private constructor(private readonly options: FakeMothershipOptions) {
    this.longPoll = options.longPoll ?? 'hold';
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, apiError('INTERNAL', String(error)));
      });
    });
  }

  static async start(options: FakeMothershipOptions = {}): Promise<FakeMothership> {
    const fake = new FakeMothership(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    for (const wake of this.waiters) wake();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  // --- scripting ---------------------------------------------------------------------------------

  /** The next `times` requests to `route` (those matching `when`) get `fault`; Infinity for all. */
  inject(route: Route, what: Fault, options: { times?: number; when?: (r: RecordedRequest) => boolean } = {}): void {
    const list = this.faults.get(route) ?? [];
    list.push({ fault: what, remaining: options.times ?? 1, when: options.when });
    this.faults.set(route, list);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Queues a task (a shell `true` unless told otherwise) and wakes a waiting claim. */
  submit(overrides: Partial<ClaimedTask> = {}): ClaimedTask {
    const n = ++this.taskCount;
    const id = overrides.id ?? `task-${n}`;
    const task: ClaimedTask = {
      ...{ id, job_id: `job-${n}`, job_name: `fake-${n}`, index: 0, attempt: 1, status: 'assigned' },
      ...{ type: 'shell', command: 'true', image: null, env: {}, labels: {}, timeout_seconds: null },
      ...{ secrets: {}, missing_secrets: [], resources: {}, gpus: [] },
      ...{ files: [], artifacts: [], on_disconnect: null },
      ...overrides,
    };
    this.queue.push(task);
    this.tasks.set(id, { task, statuses: [], reports: [], artifacts: [], batches: [], ended: false });
    for (const wake of this.waiters) wake();
    return task;
  }

  /** The server ends the task on its own (lost, say): further writes about it are 409 STALE_TASK. */
  endTask(id: string): void {
    this.task(id).ended = true;
  }

  revokeRunnerToken(): void {
    this.runnerToken = null;
  }

  // --- what happened -----------------------------------------------------------------------------

  requestsTo(route: Route): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  statusesOf(taskId: string): string[] {
    return [...this.task(taskId).statuses];
  }

  /** Every status report of a task as received, in order. */
  reportsOf(taskId: string): z.output<typeof TaskStatusRequest>[] {
    return [...this.task(taskId).reports];
  }

  /** The artifacts uploaded for a task, in upload order. */
  artifactsOf(taskId: string): StoredArtifact[] {
    return [...this.task(taskId).artifacts];
  }

  /** Every stored log line of a task, in stored order. */
  linesOf(taskId: string): { stream: string; message: string }[] {
    return this.task(taskId).batches.flatMap((b) => b.lines.map(({ stream, message }) => ({ stream, message })));
  }

  /** How each stored log batch of a task came: true packed, false one object a line. */
  batchFormsOf(taskId: string): boolean[] {
    return this.task(taskId).batches.map((b) => b.packed);
  }

  /** Every GPU sample the heartbeats carried, in the order they arrived. */
  gpuSamples(): GpuSample[] {
    return this.requestsTo('heartbeat').flatMap((r) => HeartbeatRequest.safeParse(r.body).data?.gpus ?? []);
  }

  /** The body of the latest registration, as the real server reads it (capacity included). */
  lastRegistration(): z.output<typeof RegisterRunnerRequest> | undefined {
    const last = this.requestsTo('register').at(-1);
    return last ? RegisterRunnerRequest.parse(last.body) : undefined;
  }

  private task(id: string): FakeTask {
    const found = this.tasks.get(id);
    if (!found) throw new Error(`the fake mothership knows no task ${id}`);
    return found;
  }

  // --- serving -----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    const body = parseJson(raw);
    const [route, param] = routeOf(req.method ?? 'GET', url.pathname);
    const recorded: RecordedRequest = {
      route,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      body,
      at: performance.now(),
      ...(route === 'status' || route === 'logs' ? { taskId: param } : {}),
    };
    this.requests.push(recorded);
    if (route === 'unknown' || (route === 'statuses' && !this.batchReports)) {
      return send(res, 404, apiError('NOT_FOUND', `no route ${url.pathname}`));
    }

    let truncate = false;
    let scripted = this.takeFault(route, recorded);
    let refusals = new Map<number, Fault>();
    if (route === 'statuses') {
      const ofReports = this.takeReportFaults(recorded);
      scripted ??= ofReports.scripted;
      refusals = ofReports.refusals;
    }
    switch (scripted?.kind) {
      case 'status': {
        const headers: Record<string, string> = {};
        if (scripted.retryAfterSeconds) headers['retry-after'] = String(scripted.retryAfterSeconds);
        const body = apiError(scripted.code ?? codeOfStatus(scripted.status), 'injected fault', scripted.details);
        return send(res, scripted.status, body, headers);
      }
      case 'hang':
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'delay':
        await new Promise((resolve) => setTimeout(resolve, scripted.ms));
        break;
      case 'truncate':
        truncate = true;
    }
    const [status, answer] = await this.answer(route, param, recorded, req, raw, refusals);
    if (scripted?.kind === 'late-answer') await new Promise((resolve) => setTimeout(resolve, scripted.ms));
    if (req.socket.destroyed) return;
    if (!truncate) return send(res, status, answer);
    const json = JSON.stringify(answer ?? {});
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.write(json.slice(0, Math.floor(json.length / 2)), () => res.destroy());
  }

  /**
   * The `status` faults of a batch's reports, each recorded as a request of its own: a 4xx
   * refuses its report alone (the batch's answer says so); any other fault (5xx, hang, reset,
   * truncate, delay) befalls the whole batch.
   */
  private takeReportFaults(batch: RecordedRequest): { scripted: Fault | undefined; refusals: Map<number, Fault> } {
    const refusals = new Map<number, Fault>();
    let scripted: Fault | undefined;
    reportsIn(batch.body).forEach(({ task_id: taskId, ...report }, index) => {
      const path = `/api/v1/tasks/${taskId}/status`;
      const one: RecordedRequest = { ...batch, route: 'status', path, body: report, taskId, inBatch: true };
      this.requests.push(one);
      const fault = this.takeFault('status', one);
      if (fault?.kind === 'status' && fault.status < 500 && fault.status !== 429) refusals.set(index, fault);
      else scripted ??= fault;
    });
    return { scripted, refusals };
  }

  private takeFault(route: Route, request: RecordedRequest): Fault | undefined {
    const scripted = this.faults.get(route)?.find((f) => f.remaining > 0 && (f.when?.(request) ?? true));
    if (!scripted) return undefined;
    scripted.remaining--;
    return scripted.fault;
  }

  private async answer(
    route: Route,
    param: string,
    request: RecordedRequest,
    req: IncomingMessage,
    raw: Buffer,
    refusals: Map<number, Fault>,
  ): Promise<[number, unknown]> {
    const bearer = request.authorization?.replace(/^Bearer /, '');
    if (route === 'register') {
      if (bearer !== this.registrationToken) return [401, apiError('UNAUTHORIZED', 'bad registration token')];
      const parsed = RegisterRunnerRequest.safeParse(request.body);
      if (!parsed.success) return [400, apiError('VALIDATION_FAILED', parsed.error.message)];
      // As on the real server, a new registration ends the previous session: its tasks are lost.
      for (const held of this.tasks.values()) if (!this.queue.includes(held.task)) held.ended = true;
      this.runnerToken = `fake-run-${randomBytes(8).toString('hex')}`;
      this.issuedTokens.push(this.runnerToken);
      const { device_id, name, hostname, os, arch, version, max_concurrent_tasks, labels, resources, capacity } =
        parsed.data;
      const now = new Date().toISOString();
      const runner = {
        ...{ id: this.runnerId, device_id, name, hostname, os, arch, version: version ?? null, status: 'online' },
        ...{ draining: false, approved: true, max_concurrent_tasks, active_tasks: 0, labels, resources },
        ...{ protocol_version: parsed.data.protocol_version, protocol_supported: true },
        ...{
          capacity: capacity
            ? { cpu: capacity.cpu, memory_mb: capacity.memory_mb, cpu_used: 0, memory_used_mb: 0 }
            : null,
        },
        ...{ last_heartbeat: now, created_at: now },
      };
      const interval = this.options.heartbeatIntervalSeconds ?? 1;
      return [201, { id: this.runnerId, token: this.runnerToken, heartbeat_interval_seconds: interval, runner }];
    }
    if (!this.runnerToken || bearer !== this.runnerToken) return [401, apiError('UNAUTHORIZED', 'bad runner token')];
    if ((route === 'heartbeat' || route === 'next' || route === 'statuses') && param !== this.runnerId) {
      return [403, apiError('FORBIDDEN', 'not your runner id')];
    }
    switch (route) {
      case 'heartbeat':
        return this.heartbeat(request.body);
      case 'next':
        return this.claim(request.query, req);
      case 'status':
        return this.status(param, request.body);
      case 'statuses':
        return this.statuses(request.body, refusals);
      case 'logs':
        return this.logs(param, request.body);
      case 'artifact':
        return this.artifact(raw, request.query);
    }
  }

  private heartbeat(body: unknown): [number, unknown] {
    const parsed = HeartbeatRequest.safeParse(body);
    if (!parsed.success) return [400, apiError('VALIDATION_FAILED', parsed.error.message)];
    const mentioned = (parsed.data.task_ids ?? []).map((id) => this.tasks.get(id)).filter((t) => t !== undefined);
    return [
      200,
      {
        ok: true,
        heartbeat_interval_seconds: this.options.heartbeatIntervalSeconds ?? 1,
        draining: false,
        cancel_task_ids: [],
        abandon_task_ids: mentioned.filter((t) => t.ended).map((t) => t.task.id),
      },
    ];
  }

  /** Hands out queued tasks at once, or holds the request up to `wait` seconds for one. */
  private async claim(query: URLSearchParams, req: IncomingMessage): Promise<[number, unknown]> {
    const max = Number(query.get('max') ?? 1);
    const waitMs = this.longPoll === 'hold' ? Number(query.get('wait') ?? 0) * 1000 : 0;
    const deadline = performance.now() + waitMs;
    for (;;) {
      if (req.socket.destroyed) return [204, null]; // the solder hung up: claim nothing for it
      if (max > 0 && this.queue.length > 0) return [200, { items: this.queue.splice(0, max), cancel_task_ids: [] }];
      const left = deadline - performance.now();
      if (left <= 0) return [204, null];
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          req.socket.off('close', wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
        req.socket.on('close', wake);
      });
    }
  }

  private status(taskId: string, body: unknown): [number, unknown] {
    const task = this.tasks.get(taskId);
    if (!task) return [404, apiError('TASK_NOT_FOUND', taskId)];
    if (task.ended) return [409, apiError('STALE_TASK', `task ${taskId} was taken back`)];
    const parsed = TaskStatusRequest.safeParse(body);
    if (!parsed.success) return [400, apiError('VALIDATION_FAILED', parsed.error.message)];
    task.statuses.push(parsed.data.status);
    task.reports.push(parsed.data);
    const now = new Date().toISOString();
    const { id, job_id, index, attempt } = task.task;
    const row = {
      ...{ id, job_id, index, attempt, status: parsed.data.status, runner_id: this.runnerId },
      ...{ exit_code: parsed.data.exit_code ?? null, reason: null, error: parsed.data.error ?? null },
      ...{ cancel_requested: false, created_at: now, available_at: now, assigned_at: now },
      ...{ started_at: now, completed_at: parsed.data.status === 'running' ? null : now },
    };
    return [200, { task: row, cancel_requested: false }];
  }

  /** A batch: each report applied as the single route applies it, answered on its own. */
  private statuses(body: unknown, refusals: Map<number, Fault>): [number, unknown] {
    const reports = reportsIn(body);
    if (reports.length === 0) return [400, apiError('VALIDATION_FAILED', 'reports: at least one')];
    const results = reports.map(({ task_id: taskId, ...report }, index) => {
      const refused = refusals.get(index);
      if (refused?.kind === 'status') {
        return { task_id: taskId, error: { code: refused.code ?? codeOfStatus(refused.status), message: 'injected' } };
      }
      const [status, answer] = this.status(taskId, report);
      if (status !== 200) return { task_id: taskId, error: (answer as ReturnType<typeof apiError>).error };
      const { task, cancel_requested } = answer as { task: { status: string }; cancel_requested: boolean };
      return { task_id: taskId, status: task.status, cancel_requested };
    });
    return [200, { results }];
  }

  private logs(taskId: string, body: unknown): [number, unknown] {
    const task = this.tasks.get(taskId);
    if (!task) return [404, apiError('TASK_NOT_FOUND', taskId)];
    if (task.ended) return [409, apiError('STALE_TASK', `task ${taskId} was taken back`)];
    const parsed = AppendLogsRequest.safeParse(body);
    if (!parsed.success) return [400, apiError('VALIDATION_FAILED', parsed.error.message)];
    if (parsed.data.packed && !this.packedLogs)
      return [400, apiError('VALIDATION_FAILED', 'Unrecognized key: "packed"')];
    const next = task.batches.length;
    const seq = parsed.data.seq;
    if (seq > next) {
      return [409, apiError('LOG_SEQUENCE_GAP', `expected log batch ${next}, got ${seq}`, { next_seq: next })];
    }
    const stored = seq === next;
    if (stored) task.batches.push(recorded(parsed.data));
    const lineCount = task.batches.reduce((n, b) => n + b.lines.length, 0);
    return [200, { seq, stored, next_seq: task.batches.length, line_count: lineCount }];
  }

  /** Stores an artifact sent as the raw body (`PUT`, task_id and path in the query) and answers with its record. */
  private artifact(raw: Buffer, query: URLSearchParams): [number, unknown] {
    const taskId = query.get('task_id');
    const path = query.get('path');
    if (!taskId || !path) return [400, apiError('VALIDATION_FAILED', 'task_id and path are required')];
    const task = this.tasks.get(taskId);
    if (!task) return [404, apiError('TASK_NOT_FOUND', taskId)];
    if (task.ended) return [409, apiError('STALE_TASK', `task ${taskId} was taken back`)];
    const [size, sha256] = [raw.length, createHash('sha256').update(raw).digest('hex')];
    if (query.has('sha256') && query.get('sha256') !== sha256) {
      return [400, apiError('VALIDATION_FAILED', `the body's sha256 is ${sha256}`)];
    }
    task.artifacts.push({ path, size, sha256 });
    const id = `artifact-${task.artifacts.length}`;
    const row = { id, file_id: `file-${id}`, task_id: taskId, path, size, sha256 };
    return [201, { ...row, created_at: new Date().toISOString() }];
  }
}

function routeOf(method: string, path: string): [Route | 'unknown', string] {
  const patterns: [string, RegExp, Route][] = [
    ['POST', /^\/api\/v1\/runners\/register$/, 'register'],
    ['POST', /^\/api\/v1\/runners\/([^/]+)\/heartbeat$/, 'heartbeat'],
    ['GET', /^\/api\/v1\/runners\/([^/]+)\/tasks\/next$/, 'next'],
    ['POST', /^\/api\/v1\/tasks\/([^/]+)\/status$/, 'status'],
    ['POST', /^\/api\/v1\/runners\/([^/]+)\/tasks\/status$/, 'statuses'],
    ['POST', /^\/api\/v1\/tasks\/([^/]+)\/logs$/, 'logs'],
    ['PUT', /^\/api\/v1\/artifacts\/upload$/, 'artifact'],
  ];
  for (const [verb, pattern, route] of patterns) {
    const match = method === verb ? pattern.exec(path) : null;
    if (match) return [route, decodeURIComponent(match[1] ?? '')];
  }
  return ['unknown', ''];
}

/** The reports of a batch's body as sent (ids unchecked: the fake's task ids are not UUIDs). */
function reportsIn(body: unknown): Array<{ task_id: string } & Record<string, unknown>> {
  const reports = (body as { reports?: unknown } | undefined)?.reports;
  return Array.isArray(reports) ? (reports as Array<{ task_id: string } & Record<string, unknown>>) : [];
}

/** The first of the protocol's codes with this status, as the real mothership would answer. */
function codeOfStatus(status: number): ErrorCode {
  const code = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((c) => ERROR_STATUS[c] === status);
  if (!code) throw new Error(`no Borg error code has the status ${status}`);
  return code;
}

function apiError(code: ErrorCode, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204) return void res.writeHead(204, headers).end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text; // not JSON: recorded as it came
  }
}
