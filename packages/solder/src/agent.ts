import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { type BorgApiError, BorgClient, type ClaimedTask } from '@borg/protocol';

import { type SolderConfig, workDirOf } from './config.ts';
import type { Executor } from './executors/executor.ts';
import { createExecutor, removeOrphanContainers } from './executors/index.ts';
import { type Identity, loadIdentity, saveIdentity } from './identity.ts';
import { InputCache } from './input-files.ts';
import { automaticLabels, detectResources } from './resources.ts';
import { backoffMs, isStatus, isTransient, retryDelayMs, sleep, withRetry } from './retry.ts';
import { TaskRun } from './task-run.ts';
import { SOLDER_VERSION } from './version.ts';

export interface AgentOptions {
  /** Replace how tasks are executed (tests inject faults here). */
  executorFor?: (task: ClaimedTask) => Executor;
  fetch?: typeof fetch;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** The longest one API call may take, on top of a long-poll's wait (default 30 s; see withDeadlines). */
  requestTimeoutMs?: number;
}

/** A fatal condition: the solder cannot go on and says why (a 401 after re-registering, say). */
export class SolderFatalError extends Error {
  override name = 'SolderFatalError';
}

/** The original design's poll interval, used when the mothership does not hold long-polls. */
const FALLBACK_POLL_MS = 5_000;
const RESOURCES_EVERY_N_HEARTBEATS = 10;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The solder: registers this machine, then runs two small loops side by side — a heartbeat
 * every interval the server gives, and a claim loop that long-polls for work while it has free
 * slots (and, when full, listens for cancels only) — and one TaskRun per task.
 */
export class Agent {
  private client!: BorgClient;
  private identity!: Identity;
  private runnerId = '';
  private heartbeatIntervalMs = 30_000;
  private readonly runs = new Map<string, TaskRun>();
  /** Aborted when the solder stops claiming (drain); the in-flight long-poll ends with it. */
  private readonly claiming = new AbortController();
  /**
   * The in-flight long-poll of a full solder (max=0: it listens for cancels only). A task that
   * ends aborts it, so the freed slot is offered to the queue at once instead of when that wait
   * runs out (--long-poll, 30 s by default). Found by `npm run bench -- dispatch` (figure 1): a
   * one-slot solder took each next task 30 s late, and a full solder idled between tasks.
   */
  private listenOnlyPoll: AbortController | null = null;
  /** Aborted when the solder is done; heartbeats go on until then, for the tasks still running. */
  private readonly stopping = new AbortController();
  private reregistering: Promise<void> | null = null;
  /** Runner tokens a re-registration replaced (see resendWithNewToken). */
  private readonly retiredTokens = new Set<string>();
  private started = 0;
  private lastBusy = performance.now();
  private inputs!: InputCache;
  private resources: Record<string, unknown> = {};
  private resolveDone!: () => void;
  private rejectDone!: (error: Error) => void;
  /** Resolves when the solder has stopped (drained, --once, --max-tasks, --idle-exit, stop()). */
  readonly done = new Promise<void>((resolve, reject) => {
    this.resolveDone = resolve;
    this.rejectDone = reject;
  });

  constructor(
    private readonly config: SolderConfig,
    private readonly options: AgentOptions = {},
  ) {}

  get id(): string {
    return this.runnerId;
  }

  get activeTasks(): number {
    return this.runs.size;
  }

  private log(message: string, fields?: Record<string, unknown>): void {
    (this.options.log ?? defaultLog)(message, fields);
  }

  async start(): Promise<void> {
    const workRoot = workDirOf(this.config);
    await mkdir(join(this.config.stateDir, 'spool'), { recursive: true, mode: 0o700 });
    await mkdir(workRoot, { recursive: true });
    this.identity = await loadIdentity(this.config.stateDir);
    this.client = new BorgClient({
      baseUrl: this.config.mothership,
      fetch: withDeadlines(
        (input, init) => this.resendWithNewToken(this.options.fetch ?? fetch, input, init),
        this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      ),
    });
    this.inputs = new InputCache(join(this.config.stateDir, 'cache'), this.client);
    // Containers of tasks that a previous run of this solder left behind (it was killed) go first.
    await removeOrphanContainers(this.config.containerCli, this.identity.device_id)
      .then((removed) => removed.length > 0 && this.log('removed leftover task containers', { removed }))
      .catch(() => undefined); // no container CLI on this machine: nothing to clean
    const detected = await detectResources(workRoot);
    this.resources = detected as unknown as Record<string, unknown>;
    await this.register({ ...automaticLabels(detected), ...this.config.labels }, detected);

    void this.heartbeatLoop();
    void this.claimLoop();
  }

  /**
   * First call: drain — claim nothing more, let running tasks finish, then stop.
   * With `cancelRunning` (a second signal): stop running tasks too (SIGTERM, then SIGKILL after
   * the grace period), report them cancelled, then stop.
   */
  async stop(options: { cancelRunning?: boolean } = {}): Promise<void> {
    this.claiming.abort();
    if (options.cancelRunning) for (const run of this.runs.values()) run.shutdown();
    await this.finishWhenIdle();
    return this.done;
  }

  private async register(labels: Record<string, string>, detected: { hostname: string; os: string; arch: string }) {
    const token = this.config.registrationToken;
    const sameMothership = this.identity.mothership === this.config.mothership;
    if (!token) {
      if (!this.identity.token || !sameMothership || !this.identity.runner_id) {
        throw new SolderFatalError(
          'no runner token saved for this mothership: pass --registration-token (or BORG_REGISTRATION_TOKEN) once to register',
        );
      }
      this.useToken(this.identity.runner_id, this.identity.token);
      return;
    }
    const answer = await withRetry(
      () =>
        this.client.withToken(token).register({
          device_id: this.identity.device_id,
          name: this.config.name,
          hostname: detected.hostname,
          os: detected.os,
          arch: detected.arch,
          version: SOLDER_VERSION,
          max_concurrent_tasks: this.config.maxConcurrentTasks,
          labels,
          resources: this.resources,
        }),
      {
        signal: this.stopping.signal,
        onRetry: (error) => this.log('mothership unreachable, retrying', { err: (error as Error).message }),
      },
    ).catch((error: unknown) => {
      if (isStatus(error, 401, 403)) throw new SolderFatalError(`registration refused: ${(error as Error).message}`);
      throw error;
    });
    this.identity = { ...this.identity, runner_id: answer.id, token: answer.token, mothership: this.config.mothership };
    await saveIdentity(this.config.stateDir, this.identity);
    this.heartbeatIntervalMs = answer.heartbeat_interval_seconds * 1000;
    this.useToken(answer.id, answer.token);
    this.log('registered', { runner_id: answer.id, name: this.config.name });
  }

  private useToken(runnerId: string, token: string): void {
    if (this.client.token && this.client.token !== token) this.retiredTokens.add(this.client.token);
    this.runnerId = runnerId;
    this.client.token = token;
  }

  /**
   * A call made with a runner token that a re-registration is replacing gets 401: it raced the
   * registration (a claim, or the `running` report of a task the old session's long-poll was
   * handed, sent before the new token arrived). Such a call waits for the registration and is
   * sent once more with the new token. Before, that 401 failed the task (an attempt spent for
   * nothing) or, from the claim loop, set off a second registration, which makes every task this
   * runner holds lost. Only runner tokens are ever resent; a registration's own 401 is final.
   */
  private async resendWithNewToken(
    fetchImpl: typeof fetch,
    input: Parameters<typeof fetch>[0],
    init?: RequestInit,
  ): Promise<Response> {
    const response = await fetchImpl(input, init);
    if (response.status !== 401) return response;
    const sent = new Headers(init?.headers).get('authorization')?.replace(/^Bearer /, '');
    if (!sent || (sent !== this.client.token && !this.retiredTokens.has(sent))) return response;
    if (init?.body instanceof ReadableStream) return response; // a streamed body cannot be sent twice
    await this.reregistering;
    const current = this.client.token;
    if (!current || !this.retiredTokens.has(sent)) return response;
    await response.body?.cancel();
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${current}`);
    return fetchImpl(input, { ...init, headers });
  }

  /** A 401 means our token is gone (revoked, or the device registered elsewhere): register again once. */
  private recoverFromUnauthorized(): Promise<void> {
    this.reregistering ??= this.reregister().finally(() => (this.reregistering = null));
    return this.reregistering;
  }

  private async reregister(): Promise<void> {
    if (!this.config.registrationToken) {
      this.fail(
        new SolderFatalError('the mothership no longer accepts this runner token and no registration token was given'),
      );
      return;
    }
    try {
      const detected = await detectResources(workDirOf(this.config));
      await this.register({ ...automaticLabels(detected), ...this.config.labels }, detected);
    } catch (error) {
      this.fail(
        error instanceof SolderFatalError
          ? error
          : new SolderFatalError(`re-registration failed: ${(error as Error).message}`),
      );
    }
  }

  private async heartbeatLoop(): Promise<void> {
    let failures = 0;
    let beats = 0;
    while (!this.stopping.signal.aborted) {
      await sleep(
        failures === 0 ? this.heartbeatIntervalMs : Math.min(this.heartbeatIntervalMs, backoffMs(failures)),
        this.stopping.signal,
      );
      if (this.stopping.signal.aborted) break;
      try {
        const answer = await this.client.heartbeat(this.runnerId, {
          status: this.runs.size > 0 ? 'busy' : 'online',
          active_tasks: this.runs.size,
          task_ids: [...this.runs.keys()],
          resources: await this.refreshedResources(++beats),
        });
        failures = 0;
        this.heartbeatIntervalMs = answer.heartbeat_interval_seconds * 1000;
        for (const id of answer.cancel_task_ids) this.runs.get(id)?.cancel();
        for (const id of answer.abandon_task_ids) this.runs.get(id)?.abandon();
      } catch (error) {
        failures++;
        if (isStatus(error, 401)) await this.recoverFromUnauthorized();
        else if (!isTransient(error)) this.log('heartbeat refused', { err: String(error) });
      }
    }
  }

  /**
   * Free memory, free disk and GPU memory change while a machine works: every 10th heartbeat
   * (5 minutes at the default interval) carries a fresh reading; the others carry none.
   */
  private async refreshedResources(beat: number): Promise<Record<string, unknown> | undefined> {
    if (beat % RESOURCES_EVERY_N_HEARTBEATS !== 0) return undefined;
    try {
      this.resources = (await detectResources(workDirOf(this.config))) as unknown as Record<string, unknown>;
      return this.resources;
    } catch {
      return undefined; // a failed probe must not cost a heartbeat
    }
  }

  private async claimLoop(): Promise<void> {
    let failures = 0;
    let quickEmpties = 0;
    let fallbackPolls = 0;
    const signal = this.claiming.signal;
    while (!signal.aborted) {
      const free = this.freeSlots();
      // In fallback mode, every 12th poll (about a minute) tries a long-poll again, so a
      // mothership that was restarted, or put behind another proxy, gets long-polls back.
      const polling = quickEmpties >= 3 && ++fallbackPolls % 12 !== 0;
      const wait = polling ? 0 : this.config.longPollSeconds;
      const asked = performance.now();
      const call = new AbortController();
      const stopCall = () => call.abort();
      signal.addEventListener('abort', stopCall, { once: true });
      this.listenOnlyPoll = free === 0 ? call : null;
      try {
        const answer = await this.client.nextTasks(this.runnerId, { wait, max: free, signal: call.signal });
        failures = 0;
        if (answer) {
          quickEmpties = 0;
          for (const id of answer.cancel_task_ids) this.runs.get(id)?.cancel();
          for (const task of answer.items) this.startTask(task);
        } else if (wait > 0 && performance.now() - asked < (wait * 1000) / 4) {
          // 204 long before the wait: this mothership does not hold requests. Fall back to polling.
          quickEmpties++;
        } else if (wait > 0) {
          // It held the request for the wait: long-polling works (again, after a restart).
          quickEmpties = 0;
        }
        if (quickEmpties >= 3 && !answer) await sleep(FALLBACK_POLL_MS, signal);
        if (this.idleTooLong()) {
          this.log('idle for longer than --idle-exit: stopping');
          void this.stop();
        }
      } catch (error) {
        if (signal.aborted) break;
        if (call.signal.aborted) continue; // a slot freed up during a listen-only poll: claim now
        if (isStatus(error, 401)) await this.recoverFromUnauthorized();
        else if (isStatus(error, 403, 404))
          this.fail(new SolderFatalError(`the mothership refused this runner: ${(error as BorgApiError).message}`));
        else if (!isTransient(error)) this.log('claim failed', { err: String(error) });
        await sleep(retryDelayMs(error, failures++, 500, 30_000), signal);
      } finally {
        signal.removeEventListener('abort', stopCall);
        this.listenOnlyPoll = null;
      }
    }
  }

  /** Slots to ask for: free capacity, less what --max-tasks still allows; 0 listens for cancels only. */
  private freeSlots(): number {
    let free = this.config.maxConcurrentTasks - this.runs.size;
    const limit = this.config.once ? 1 : this.config.maxTasks;
    if (limit !== undefined) free = Math.min(free, limit - this.started);
    return Math.max(0, free);
  }

  private startTask(task: ClaimedTask): void {
    this.started++;
    this.lastBusy = performance.now();
    this.log('task started', { task_id: task.id, job_id: task.job_id, attempt: task.attempt });
    const run = new TaskRun(
      {
        client: this.client,
        executorFor: this.options.executorFor ?? ((t) => createExecutor(t.type, this.executorOptions())),
        inputs: this.inputs,
        workRoot: workDirOf(this.config),
        spoolDir: join(this.config.stateDir, 'spool'),
        graceMs: this.config.cancelGracePeriod * 1000,
        keepWorkspaces: this.config.keepWorkspaces,
        log: (message, fields) => this.log(message, fields),
      },
      task,
    );
    this.runs.set(task.id, run);
    void run.done.then(() => {
      this.runs.delete(task.id);
      this.listenOnlyPoll?.abort();
      this.lastBusy = performance.now();
      this.log('task finished', { task_id: task.id });
      const limit = this.config.once ? 1 : this.config.maxTasks;
      if (limit !== undefined && this.started >= limit && this.runs.size === 0) void this.stop();
      if (this.claiming.signal.aborted) void this.finishWhenIdle();
    });
  }

  private executorOptions() {
    return {
      shell: this.config.shell,
      containerCli: this.config.containerCli,
      containerNetwork: this.config.containerNetwork,
      solderId: this.identity.device_id,
    };
  }

  private idleTooLong(): boolean {
    return (
      this.config.idleExit !== undefined &&
      this.runs.size === 0 &&
      performance.now() - this.lastBusy > this.config.idleExit * 1000
    );
  }

  private async finishWhenIdle(): Promise<void> {
    await Promise.all([...this.runs.values()].map((run) => run.done));
    if (this.runs.size > 0) return; // a later run's completion calls this again
    this.stopping.abort();
    this.resolveDone();
  }

  private fail(error: Error): void {
    this.log(error.message);
    this.claiming.abort();
    this.stopping.abort();
    for (const run of this.runs.values()) run.shutdown();
    this.rejectDone(error);
  }
}

/**
 * Gives every API call a deadline: `timeoutMs`, plus the wait of a long-poll. Without one, a
 * request the mothership accepted but never answers (a frozen or half-restarted server, a
 * half-open connection after a network fault) held the heartbeat or claim loop for undici's
 * 300 s header timeout — long enough for the runner to be declared offline and its tasks lost.
 * A call that runs out of time fails as transient and is retried like any network error.
 * Transfers of unbounded size (input downloads, uploads: any body but a JSON string) are left to
 * undici's idle timeouts, since a large file may rightly take longer than any fixed deadline.
 */
function withDeadlines(fetchImpl: typeof fetch, timeoutMs: number): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const small = init?.body === undefined || init.body === null || typeof init.body === 'string';
    if (!small || url.pathname.endsWith('/download')) return fetchImpl(input, init);
    const deadline = AbortSignal.timeout(Number(url.searchParams.get('wait') ?? 0) * 1000 + timeoutMs);
    return fetchImpl(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
  };
}

function defaultLog(message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${new Date().toISOString()} solder: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
}
