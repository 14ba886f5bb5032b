import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BorgClient, type RegisterRunnerRequest } from '@borg/protocol';
import { afterAll, beforeAll } from 'vitest';

import { loadConfig, type MothershipConfig, secretKeyFileOf } from '../packages/mothership/src/config.ts';
import { type Mothership, startMothership, type StartOptions } from '../packages/mothership/src/mothership.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

export interface TestRunner {
  id: string;
  token: string;
  deviceId: string;
  client: BorgClient;
}

export interface TestMothershipOptions {
  config?: Partial<Record<keyof MothershipConfig, unknown>>;
  /** Run the maintenance loop on its own; by default tests call `tick()` when they mean to. */
  maintenance?: boolean;
  /** Fault-injecting wrappers for the database and file store (test/reliability/). */
  wrap?: Pick<StartOptions, 'wrapDatabase' | 'wrapStorage'>;
}

/**
 * A real mothership on a real port over a fresh database of the engine under test. The admin
 * and registration tokens are fixed per instance so tests can use them directly.
 */
export class TestMothership {
  mothership!: Mothership;
  url = '';
  readonly adminToken = `test-admin-${randomBytes(16).toString('hex')}`;
  readonly registrationToken = `test-reg-${randomBytes(16).toString('hex')}`;
  private config!: MothershipConfig;

  private constructor(
    readonly database: TestDatabase,
    private readonly options: TestMothershipOptions,
  ) {}

  static async start(options: TestMothershipOptions = {}): Promise<TestMothership> {
    const instance = new TestMothership(await createTestDatabase(), options);
    try {
      instance.config = loadConfig(
        {
          host: '127.0.0.1',
          port: 0,
          databaseUrl: instance.database.databaseUrl,
          dataDir: instance.database.dataDir,
          adminToken: instance.adminToken,
          registrationToken: instance.registrationToken,
          logLevel: 'silent',
          retryBaseDelayMs: 0,
          ...options.config,
        },
        {},
      );
      await instance.boot();
    } catch (error) {
      await instance.database.drop();
      throw error;
    }
    return instance;
  }

  get services() {
    return this.mothership.services;
  }

  get db() {
    return this.mothership.db;
  }

  /** A client with the admin (user) token. */
  get admin(): BorgClient {
    return new BorgClient({ baseUrl: this.url, token: this.adminToken });
  }

  client(token?: string): BorgClient {
    return new BorgClient({ baseUrl: this.url, token });
  }

  async registerRunner(request: Partial<RegisterRunnerRequest> = {}): Promise<TestRunner> {
    const deviceId = request.device_id ?? `device-${randomUUID()}`;
    const registered = await this.client(this.registrationToken).register({
      hostname: 'test-host',
      os: 'linux',
      arch: 'x64',
      max_concurrent_tasks: 1,
      labels: {},
      resources: {},
      ...request,
      device_id: deviceId,
      name: request.name ?? deviceId,
    });
    return { id: registered.id, token: registered.token, deviceId, client: this.client(registered.token) };
  }

  /**
   * Another replica on this one's PostgreSQL database: the same settings, tokens and secret key,
   * its own data directory and port, no maintenance loop unless asked. Closing it removes its
   * directory. (PGlite belongs to one process: there is no second replica of it.)
   */
  async startReplica(
    config: Partial<MothershipConfig> = {},
    options: Pick<StartOptions, 'maintenance'> = {},
  ): Promise<{ mothership: Mothership; url: string; close(): Promise<void> }> {
    if (!this.database.databaseUrl) throw new Error('replicas share a PostgreSQL database: set BORG_TEST_DATABASE_URL');
    const dataDir = await mkdtemp(join(tmpdir(), 'borg-replica-'));
    try {
      const mothership = await startMothership(
        { ...this.config, port: 0, dataDir, secretKeyFile: secretKeyFileOf(this.config), ...config },
        { maintenance: options.maintenance ?? false },
      );
      return {
        mothership,
        url: await mothership.listen(),
        close: async () => {
          await mothership.close();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** One maintenance round (reaper, timeouts, retry clock). */
  tick(): Promise<void> {
    return this.mothership.maintenance.tick();
  }

  /**
   * Stops and starts the mothership again on the same database and data directory; with
   * `downtimeMs` it stays down that long first. It comes back on the same port, so clients
   * (solders) that keep retrying the old address find it again. `whileDown` runs while it is
   * stopped (a one-shot command that needs the data directory to itself).
   */
  async restart(
    options: { downtimeMs?: number; config?: Partial<MothershipConfig>; whileDown?: () => Promise<void> } = {},
  ): Promise<void> {
    await this.stop();
    if (options.downtimeMs) await new Promise((resolve) => setTimeout(resolve, options.downtimeMs));
    await options.whileDown?.();
    if (options.config) this.config = { ...this.config, ...options.config };
    await this.boot();
  }

  /** Stops the mothership (the database stays) until `boot()` or `restart()`. */
  async stop(): Promise<void> {
    this.config = { ...this.config, port: Number(new URL(this.url).port) };
    await this.mothership.close();
  }

  /** Starts it again after `stop()`, on the same port. */
  async boot(): Promise<void> {
    this.mothership = await startMothership(this.config, {
      maintenance: this.options.maintenance ?? false,
      ...this.options.wrap,
    });
    this.url = await this.mothership.listen();
  }

  async close(): Promise<void> {
    await this.mothership.close();
    await this.database.drop();
  }
}

/** Starts one mothership for the file's tests and stops it after them. */
export function useTestMothership(options: TestMothershipOptions = {}): () => TestMothership {
  let instance: TestMothership | undefined;
  beforeAll(async () => {
    instance = await TestMothership.start(options);
  });
  afterAll(async () => {
    await instance?.close();
  });
  return () => {
    if (!instance) throw new Error('the test mothership is not started (use it inside a test)');
    return instance;
  };
}

/** Raw HTTP for cases the typed client refuses to send (bad JSON, wrong types, no token). */
export async function rawRequest(
  url: string,
  init: {
    method?: string;
    path: string;
    token?: string;
    body?: string | Uint8Array<ArrayBuffer>;
    headers?: Record<string, string>;
  },
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const response = await fetch(url + init.path, { method: init.method ?? 'GET', headers, body: init.body });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: response.status, body, headers: response.headers };
}
