import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BorgClient } from '@borg/protocol';
import { vi } from 'vitest';

import type { Database } from '../../../packages/mothership/src/db/database.ts';
import { PgDatabase } from '../../../packages/mothership/src/db/pg-database.ts';
import { PgliteDatabase } from '../../../packages/mothership/src/db/pglite-database.ts';
import { freePort } from './postgres-cluster.ts';

const BORG_BIN = new URL('../../../packages/cli/bin/borg.js', import.meta.url).pathname;

/** A child process the harness can kill, freeze and thaw, keeping everything it printed. */
export class Child {
  output = '';
  exited!: Promise<number | string>;
  process!: ChildProcess;

  constructor(
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  spawn(): void {
    const child = spawn(process.execPath, [BORG_BIN, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    this.process = child;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** SIGKILL (a crash) or SIGTERM (a graceful stop); resolves when the process is gone. */
  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<number | string> {
    if (this.alive) this.process.kill(signal);
    return this.exited;
  }

  freeze(): void {
    this.process.kill('SIGSTOP');
  }

  thaw(): void {
    this.process.kill('SIGCONT');
  }
}

export interface MothershipProcessOptions {
  databaseUrl?: string;
  /** The data directory (holds the embedded database when there is no databaseUrl). */
  dataDir: string;
  heartbeatIntervalSeconds?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * `borg mothership` as a real process on a fixed port, so that a restart comes back where
 * solders expect it. Tokens are fixed per instance.
 */
export class MothershipProcess extends Child {
  private constructor(
    readonly port: number,
    readonly options: MothershipProcessOptions,
    readonly adminToken: string,
    readonly registrationToken: string,
  ) {
    super(['mothership', '--host', '127.0.0.1', '--port', String(port), '--data-dir', options.dataDir], {
      BORG_ADMIN_TOKEN: adminToken,
      BORG_REGISTRATION_TOKEN: registrationToken,
      BORG_HEARTBEAT_INTERVAL_SECONDS: String(options.heartbeatIntervalSeconds ?? 2),
      BORG_RETRY_BASE_DELAY_MS: '0',
      BORG_LOG_LEVEL: 'warn',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { DATABASE_URL: '' }),
      ...options.env,
    });
  }

  static async start(options: MothershipProcessOptions): Promise<MothershipProcess> {
    const instance = new MothershipProcess(
      await freePort(),
      options,
      `chaos-admin-${randomBytes(16).toString('hex')}`,
      `chaos-reg-${randomBytes(16).toString('hex')}`,
    );
    await instance.boot();
    return instance;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get storageDir(): string {
    return join(this.options.dataDir, 'storage');
  }

  get admin(): BorgClient {
    return new BorgClient({ baseUrl: this.url, token: this.adminToken });
  }

  /** Spawns it and waits until /readyz answers 200. */
  async boot(timeoutMs = 60_000): Promise<void> {
    this.spawn();
    const ready = await vi.waitFor(
      async () => {
        if (!this.alive) return false;
        const answer = await fetch(`${this.url}/readyz`).catch(() => null);
        if (answer?.ok) return true;
        throw new Error(`the mothership did not become ready:\n${this.output}`);
      },
      { timeout: timeoutMs, interval: 100 },
    );
    if (!ready) throw new Error(`the mothership exited at start:\n${this.output}`);
  }

  /** Kills it (SIGKILL by default) and starts it again on the same port and database. */
  async restart(options: { signal?: 'SIGKILL' | 'SIGTERM'; downtimeMs?: number } = {}): Promise<void> {
    await this.kill(options.signal ?? 'SIGKILL');
    if (options.downtimeMs) await new Promise((resolve) => setTimeout(resolve, options.downtimeMs));
    await this.boot();
  }
}

export interface SolderProcessOptions {
  /** The address the solder talks to: the mothership's, or a proxy's in front of it. */
  mothershipUrl: string;
  registrationToken: string;
  labels?: Record<string, string>;
  maxConcurrentTasks?: number;
  /** Reuse a state directory (same device id: a restart of the same machine's solder). */
  stateDir?: string;
  args?: string[];
}

/** `borg solder` as a real process. */
export class SolderProcess extends Child {
  private constructor(
    readonly stateDir: string,
    args: string[],
  ) {
    super(args, { BORG_LOG_LEVEL: 'warn' });
  }

  static async start(options: SolderProcessOptions): Promise<SolderProcess> {
    const stateDir = options.stateDir ?? join(tmpdir(), 'borg-chaos-solders', randomBytes(6).toString('hex'));
    await mkdir(stateDir, { recursive: true });
    const labels = Object.entries(options.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const solder = new SolderProcess(stateDir, [
      'solder',
      '--mothership',
      options.mothershipUrl,
      '--registration-token',
      options.registrationToken,
      '--state-dir',
      stateDir,
      '--long-poll',
      '5',
      '--cancel-grace-period',
      '1',
      '--max-concurrent-tasks',
      String(options.maxConcurrentTasks ?? 1),
      ...(labels.length > 0 ? ['--labels', labels.join(',')] : []),
      ...(options.args ?? []),
    ]);
    solder.spawn();
    return solder;
  }

  async cleanup(): Promise<void> {
    if (this.alive) {
      this.thaw();
      await this.kill('SIGKILL');
    }
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

/** Kills a task's whole process group (tasks lead their own; they outlive a SIGKILLed solder). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Opens the database a mothership process used, for the invariant checker. The embedded
 * engine has one owner at a time: stop the mothership first.
 */
export async function openDatabaseOf(options: { databaseUrl?: string; dataDir: string }): Promise<Database> {
  if (options.databaseUrl) return new PgDatabase({ connectionString: options.databaseUrl, maxConnections: 2 });
  return PgliteDatabase.open(join(options.dataDir, 'pglite'));
}
