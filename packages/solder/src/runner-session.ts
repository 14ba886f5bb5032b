import { readFile } from 'node:fs/promises';

import { BorgClient, type JobType, PROTOCOL_VERSION, type RunnerCapacity } from '@borg/protocol';
import { httpFetch } from '@borg/protocol/http-fetch';

import { offeredCapacity } from './capacity.ts';
import { type SolderConfig, workDirOf } from './config.ts';
import { ContactClock } from './contact-clock.ts';
import { type Identity, loadIdentity, saveIdentity } from './identity.ts';
import {
  automaticLabels,
  type DetectedResources,
  type DetectOptions,
  detectResources,
  type GpuInfo,
} from './resources.ts';
import { hasCode, withRetry } from './retry.ts';
import { SolderFatalError } from './solder-fatal-error.ts';
import { SOLDER_VERSION } from './version.ts';
import { withDeadlines } from './with-deadlines.ts';

export interface RunnerSessionOptions {
  /** The fetch every call goes through (default: httpFetch, node:http for JSON, the global fetch for files). */
  fetch?: typeof fetch;
  /** The longest one API call may take, on top of a long-poll's wait (see withDeadlines). */
  requestTimeoutMs: number;
  /** Aborted when the solder is done: a registration in progress stops retrying. */
  signal: AbortSignal;
  /** Told when the session is over for good: the solder must stop. */
  onFatal: (error: SolderFatalError) => void;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** How this machine is read (the nvidia-smi binary, probe time bounds). */
  detect?: DetectOptions;
  /** Told what each periodic reading found of the GPUs offered, for the next heartbeat (see gpu-telemetry.ts). */
  gpuReadings?: { recordReading(gpus: readonly GpuInfo[], offered: readonly number[]): void };
  /** Labels found at start beside os, arch and gpu (container=docker|podman); the configured labels win. */
  automaticLabels?: Record<string, string>;
  /** The job types it takes (what its claims ask for), told at registration for placement's reasons; absent: every type. */
  jobTypes?: readonly JobType[];
}

/**
 * This machine's standing with the mothership: who it is (the identity file: device id, runner
 * id and runner token), the client every call goes through, and the token in that client.
 *
 * - `begin` registers with the registration token, or takes up the runner token saved for this
 *   mothership when there is none.
 * - A 401 to the loops means the token is gone (revoked, or the device registered again
 *   elsewhere): `recoverFromUnauthorized` registers again, once however many calls ask at the
 *   same time; without a registration token, or when that registration is refused, the session
 *   is over and `onFatal` is told.
 * - Every registration is a new token; the old one is retired, and a call that raced the swap is
 *   sent again with the new one (see resendWithNewToken).
 */
export class RunnerSession {
  readonly client: BorgClient;
  /** The heartbeat interval the mothership asked for last (at registration and in every heartbeat answer). */
  heartbeatIntervalMs = 30_000;
  /** How long this solder has been out of touch with the mothership, and its offline window. */
  readonly contact = new ContactClock(3 * 30_000);
  /** The latest reading of this machine, sent with every registration. */
  resources: Record<string, unknown> = {};
  /** What the last registration offered to tasks that ask for resources; undefined before it. */
  capacity: RunnerCapacity | undefined;
  /**
   * True once any reading has found a GPU here (offered or not): from then on a task given no GPU
   * is shown none. It never turns false, so a failed nvidia-smi cannot hand every GPU to a task.
   */
  machineHasGpus = false;
  private runner = '';
  /** Runner tokens a registration replaced; a 401 to one of them is a race, not a lost session. */
  private readonly retiredTokens = new Set<string>();
  private reregistering: Promise<void> | null = null;

  private constructor(
    private readonly config: SolderConfig,
    private identity: Identity,
    private readonly options: RunnerSessionOptions,
  ) {
    this.client = new BorgClient({
      baseUrl: config.mothership,
      fetch: withDeadlines((input, init) => this.resendWithNewToken(input, init), options.requestTimeoutMs),
    });
  }

  /** Reads (or, on a new machine, creates) the identity in the state directory. */
  static async open(config: SolderConfig, options: RunnerSessionOptions): Promise<RunnerSession> {
    return new RunnerSession(config, await loadIdentity(config.stateDir), options);
  }

  /** The runner id the mothership gave; '' until the session has begun. */
  get runnerId(): string {
    return this.runner;
  }

  /** Generated once per machine, never changed. */
  get deviceId(): string {
    return this.identity.device_id;
  }

  /** Reads this machine's resources and registers it (or takes up the saved runner token). */
  async begin(): Promise<void> {
    const detected = await this.detect();
    await this.register(detected, { ownTokenFirst: true });
  }

  /**
   * A fresh reading of this machine (free memory, disk, GPUs), kept for the next registration; what
   * it found of the offered GPUs goes with the next heartbeat.
   */
  async readResources(): Promise<Record<string, unknown>> {
    const detected = await this.detect();
    const offered = (this.capacity?.gpus ?? []).map((gpu) => gpu.index);
    if (offered.length > 0) this.options.gpuReadings?.recordReading(detected.gpus, offered);
    return detected;
  }

  private async detect(): Promise<DetectedResources> {
    const detected = await detectResources(workDirOf(this.config), this.options.detect);
    this.resources = detected;
    if (detected.gpus.length > 0) this.machineHasGpus = true;
    return detected;
  }

  /** A 401 means our token is gone: register again, once for every caller that asks meanwhile. */
  recoverFromUnauthorized(): Promise<void> {
    this.reregistering ??= this.reregister().finally(() => (this.reregistering = null));
    return this.reregistering;
  }

  private async reregister(): Promise<void> {
    if (!this.config.registrationToken && !this.config.registrationTokenFile) {
      this.options.onFatal(
        new SolderFatalError('the mothership no longer accepts this runner token and no registration token was given'),
      );
      return;
    }
    try {
      await this.register(await this.detect());
    } catch (error) {
      this.options.onFatal(
        error instanceof SolderFatalError
          ? error
          : new SolderFatalError(`re-registration failed: ${(error as Error).message}`),
      );
    }
  }

  /**
   * Registers with the registration token (the same device id is the same runner, with a new
   * token), retrying while the mothership cannot be reached, and saves the new identity before
   * using it. A 401 or 403 is final. Without a registration token, the saved runner token is
   * used if it belongs to this mothership.
   *
   * With `ownTokenFirst` (at start, before any call has used the saved token), a device already
   * registered here registers again with its own runner token first: the mothership takes it
   * whichever registration token the solder holds now, so rotating that token needs no change
   * on the machines already registered. Only a 401 (the saved token is gone) falls back to the
   * registration token.
   */
  private async register(detected: DetectedResources, options: { ownTokenFirst?: boolean } = {}): Promise<void> {
    const { capacity, missingGpus } = offeredCapacity(detected, this.config);
    if (missingGpus.length > 0) {
      this.options.log('--gpus names GPUs that nvidia-smi does not report: they are not offered', {
        missing: missingGpus,
        detected: detected.gpus.map((gpu) => gpu.index),
      });
    }
    const token = await this.registrationToken();
    const { runner_id: savedRunnerId, token: savedToken, mothership: savedFor } = this.identity;
    if (!token) {
      if (!savedToken || savedFor !== this.config.mothership || !savedRunnerId) {
        throw new SolderFatalError(
          'no runner token saved for this mothership: pass --registration-token (or BORG_REGISTRATION_TOKEN) once to register',
        );
      }
      this.capacity = capacity;
      this.useToken(savedRunnerId, savedToken);
      return;
    }
    const registerWith = (bearer: string) =>
      withRetry(
        () =>
          this.client.withToken(bearer).register({
            device_id: this.identity.device_id,
            name: this.config.name,
            hostname: detected.hostname,
            os: detected.os,
            arch: detected.arch,
            version: SOLDER_VERSION,
            protocol_version: PROTOCOL_VERSION,
            max_concurrent_tasks: this.config.maxConcurrentTasks,
            labels: { ...automaticLabels(detected), ...this.options.automaticLabels, ...this.config.labels },
            resources: this.resources,
            capacity,
            job_types: this.options.jobTypes && [...this.options.jobTypes],
          }),
        {
          signal: this.options.signal,
          onRetry: (error) => this.options.log('mothership unreachable, retrying', { err: (error as Error).message }),
        },
      );
    const refused = (error: unknown): never => {
      if (hasCode(error, 'UNAUTHORIZED', 'FORBIDDEN'))
        throw new SolderFatalError(`registration refused: ${(error as Error).message}`);
      throw error;
    };
    const sent = performance.now();
    const ownToken = options.ownTokenFirst && savedToken && savedRunnerId && savedFor === this.config.mothership;
    const again = ownToken
      ? await registerWith(savedToken).catch((error: unknown) =>
          hasCode(error, 'UNAUTHORIZED') ? null : refused(error),
        )
      : null;
    const answer = again ?? (await registerWith(token).catch(refused));
    this.contact.touched(sent);
    // The registration token is needed again only if this runner token is revoked: it is read
    // from its file again then, and kept nowhere meanwhile, the environment included (a task's
    // environment is built without it anyway; this is for anything that reads ours later).
    delete process.env.BORG_REGISTRATION_TOKEN;
    this.identity = { ...this.identity, runner_id: answer.id, token: answer.token, mothership: this.config.mothership };
    await saveIdentity(this.config.stateDir, this.identity);
    this.heartbeatIntervalMs = answer.heartbeat_interval_seconds * 1000;
    this.contact.offlineAfterMs = offlineWindowMs(answer);
    this.capacity = capacity;
    this.useToken(answer.id, answer.token);
    this.options.log('registered', { runner_id: answer.id, name: this.config.name });
  }

  /**
   * The registration token: from --registration-token-file, read afresh each time it is needed
   * (so the solder holds it only while it registers), else the one given on the command line or
   * in the environment.
   */
  private async registrationToken(): Promise<string | undefined> {
    const file = this.config.registrationTokenFile;
    if (!file) return this.config.registrationToken;
    const token = (
      await readFile(file, 'utf8').catch((error: Error) => {
        throw new SolderFatalError(`cannot read the registration token file ${file}: ${error.message}`);
      })
    ).trim();
    if (!token) throw new SolderFatalError(`the registration token file ${file} is empty`);
    return token;
  }

  private useToken(runnerId: string, token: string): void {
    if (this.client.token && this.client.token !== token) this.retiredTokens.add(this.client.token);
    this.runner = runnerId;
    this.client.token = token;
  }

  /**
   * A call made with a runner token that a registration is replacing gets 401: it raced the
   * registration (a claim, or the `running` report of a task the old token's long-poll was
   * handed, sent before the new token arrived). Such a call waits for the registration and is
   * sent once more with the new token, so the race neither fails a task (an attempt spent for
   * nothing) nor sets off a second registration (which makes every task this runner holds lost).
   * Only runner tokens are ever resent; a registration's own 401 is final, and a streamed body
   * cannot be sent twice.
   */
  private async resendWithNewToken(input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> {
    const fetchImpl = this.options.fetch ?? httpFetch;
    const response = await fetchImpl(input, init);
    if (response.status !== 401) return response;
    const sent = new Headers(init?.headers).get('authorization')?.replace(/^Bearer /, '');
    if (!sent || (sent !== this.client.token && !this.retiredTokens.has(sent))) return response;
    if (init?.body instanceof ReadableStream) return response;
    await this.reregistering;
    const current = this.client.token;
    if (!current || !this.retiredTokens.has(sent)) return response;
    await response.body?.cancel();
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${current}`);
    return fetchImpl(input, { ...init, headers });
  }
}

/**
 * The mothership's offline window from its answer; one older than `offline_after_seconds` calls a
 * runner offline after three missed heartbeats.
 */
export function offlineWindowMs(answer: {
  heartbeat_interval_seconds: number;
  offline_after_seconds?: number;
}): number {
  return (answer.offline_after_seconds ?? 3 * answer.heartbeat_interval_seconds) * 1000;
}
