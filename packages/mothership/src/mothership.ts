import { join, resolve } from 'node:path';
import type { Server as TlsServer } from 'node:tls';

import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';

import { ArtifactService } from './artifacts/artifact-service.ts';
import { AuditLog } from './audit/audit-log.ts';
import { Authenticator } from './auth/authenticator.ts';
import { TokenService } from './auth/token-service.ts';
import { tokenStore } from './auth/token-store.ts';
import { type MothershipConfig, secretKeyFileOf, tlsFilesOf } from './config.ts';
import { lockDataDir } from './db/data-dir-lock.ts';
import type { Database } from './db/database.ts';
import { DatabaseHealth } from './db/database-health.ts';
import { loadMigrations, migrate } from './db/migrate.ts';
import { PgDatabase } from './db/pg-database.ts';
import { checkReadiness } from './db/readiness.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { Maintenance, MISSED_HEARTBEATS_BEFORE_OFFLINE } from './dispatch/maintenance.ts';
import { Queue } from './dispatch/queue.ts';
import { RunnerSessions } from './dispatch/runner-sessions.ts';
import { TaskSecrets } from './dispatch/task-secrets.ts';
import { EventBus } from './events/event-bus.ts';
import { type EventReference, NotifyTransport } from './events/notify-transport.ts';
import type { BlobStorage } from './files/blob-storage.ts';
import { FileService } from './files/file-service.ts';
import { openBlobStorage } from './files/open-blob-storage.ts';
import { ensurePrivateDir, ensurePrivateFile } from './files/private-paths.ts';
import { buildApp, redactUrl } from './http/build-app.ts';
import type { Services } from './http/services.ts';
import { readTls, reloadTls } from './http/tls.ts';
import { IdResolver } from './ids/id-resolver.ts';
import { SolderInstaller } from './install/solder-installer.ts';
import { ArrayActions } from './jobs/array-actions.ts';
import { JobActions } from './jobs/job-actions.ts';
import { jobStore } from './jobs/job-store.ts';
import { jobViews } from './jobs/job-views.ts';
import { logStore } from './jobs/log-store.ts';
import { TaskPlacementService } from './jobs/task-placement.ts';
import { taskStore, toTask } from './jobs/task-store.ts';
import { WebSocketHub } from './live/websocket-hub.ts';
import { Metrics } from './metrics/metrics.ts';
import { ScheduleMetrics } from './metrics/schedule-metrics.ts';
import { PipelineActions } from './pipelines/pipeline-actions.ts';
import { Retention } from './retention/retention.ts';
import { runnerStore } from './runners/runner-store.ts';
import { ScheduleFirer } from './schedules/schedule-firer.ts';
import { ScheduleService } from './schedules/schedule-service.ts';
import { Scheduler } from './schedules/scheduler.ts';
import { loadSecretKey, parseSecretKey, SecretCipher } from './secrets/secret-cipher.ts';
import { SecretService } from './secrets/secret-service.ts';
import { StatsService } from './stats/stats-service.ts';
import { startWebhooks } from './webhooks/start-webhooks.ts';

/** Tokens created on this start; shown once, then only their hashes exist. */
export interface CreatedSecrets {
  adminToken?: string;
  registrationToken?: string;
}

export interface Mothership {
  app: FastifyInstance;
  services: Services;
  db: Database;
  bus: EventBus;
  maintenance: Maintenance;
  hub: WebSocketHub;
  log: Logger;
  createdSecrets: CreatedSecrets;
  /** Starts listening; resolves to the address. */
  listen(): Promise<string>;
  /**
   * Serves the TLS certificate and key from their files again (SIGHUP), to new connections; a
   * bad file is logged and the current pair kept. False when nothing was reloaded.
   */
  reloadTls(): Promise<boolean>;
  /** A short-lived registration token, for a solder started alongside (`borg up`). */
  mintRegistrationToken(name: string, ttlSeconds: number): Promise<string>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Run the maintenance loop (reaper, timeouts, retry clock). Tests drive it by hand instead. */
  maintenance?: boolean;
  /** Run the scheduler, which fires schedules (default on). */
  scheduler?: boolean;
  logger?: Logger;
  /** Wraps the opened database; the reliability suites inject faults (resets, 40001) here. */
  wrapDatabase?: (db: Database) => Database;
  /** Wraps the file store; the reliability suites inject faults (ENOSPC) here. */
  wrapStorage?: (storage: BlobStorage) => BlobStorage;
}

/**
 * Opens the database (embedded or server), migrates it, creates the first tokens, wires the
 * services and builds the HTTP app. Nothing listens until `listen()`.
 */
export async function startMothership(config: MothershipConfig, options: StartOptions = {}): Promise<Mothership> {
  const log =
    options.logger ??
    pino({
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[REDACTED]' },
    });
  const cleanup: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const step of cleanup.reverse())
      await step().catch((error: unknown) => log.warn({ err: error }, 'shutdown step failed'));
  };

  try {
    // Read first: a certificate that cannot be served stops the start before anything opens.
    const tlsFiles = tlsFilesOf(config);
    const tls = tlsFiles ? await readTls(tlsFiles) : undefined;
    // Checked next: an unusable bucket (endpoint, credentials, name) stops the start before the database opens.
    const blobs = await openBlobStorage(config, log);
    cleanup.push(() => blobs.close());
    log.debug({ storage: blobs.where }, 'file storage opened');
    const storage = options.wrapStorage ? options.wrapStorage(blobs.storage) : blobs.storage;
    const health = new DatabaseHealth();
    const opened = await openDatabase(config, health, log, cleanup);
    const db = options.wrapDatabase ? options.wrapDatabase(opened) : opened;
    const migrations = await loadMigrations();
    const applied = await migrate(db, migrations);
    if (applied.length > 0) log.info({ applied }, 'database migrated');

    const createdSecrets = await bootstrapTokens(db, config, log);

    // One registry per mothership (not prom-client's global one): tests run several in one process.
    const metrics = new Metrics(db);
    const bus = new EventBus((error) => log.warn({ err: error }, 'could not share an event with other replicas'));
    if (db.engine === 'postgres') {
      const transport = new NotifyTransport(
        db,
        bus,
        (ref) => resolveReference(db, ref),
        (error) => {
          log.warn({ err: error }, 'event from another replica dropped');
        },
        (lagSeconds) => metrics.eventDelivered(lagSeconds),
      );
      await transport.start();
      cleanup.push(() => transport.stop());
    }

    const { secrets, cipher } = await openSecrets(db, config, log);
    const webhooks = await startWebhooks(db, bus, cipher, metrics.registry, log.child({ area: 'webhooks' }), config);
    cleanup.push(() => webhooks.close());
    const queue = new Queue(db, bus, {
      backoff: { baseMs: config.retryBaseDelayMs, maxMs: config.retryMaxDelayMs },
      secrets: new TaskSecrets(db, secrets),
      observer: metrics,
      logLimitBytes: config.taskLogLimitBytes,
    });
    const dispatcher = new Dispatcher(
      db,
      queue,
      bus,
      // As many queries waiting for a connection as the pool holds: the database is the bottleneck.
      { shedLongPollsAtWaiting: config.databasePoolSize, onOverload: () => health.noteFailure() },
      (message, count) => log.warn({ shed: count }, message),
    );
    cleanup.push(async () => dispatcher.close());
    const files = new FileService(db, storage, config.maxUploadBytes);
    const hub = new WebSocketHub(bus, db);
    const audit = new AuditLog(db, log.child({ area: 'audit' }));
    cleanup.push(() => audit.flush());
    metrics.track({ websocketClients: () => hub.size });
    const jobs = new JobActions(db, bus);
    const retention = new Retention(
      db,
      storage,
      bus,
      log.child({ area: 'retention' }),
      {
        jobsSeconds: config.retentionJobsSeconds,
        artifactsSeconds: config.retentionArtifactsSeconds,
        filesSeconds: config.retentionFilesSeconds,
        runnersSeconds: config.retentionRunnersSeconds,
      },
      (deleted) => metrics.retentionDeleted({ ...deleted }),
    );
    const scheduleFirer = new ScheduleFirer(
      db,
      jobs,
      new ScheduleMetrics(db, metrics.registry),
      log.child({ area: 'schedules' }),
    );
    const services: Services = {
      config,
      health,
      readiness: () => checkReadiness(db, migrations, storage),
      authenticator: new Authenticator(db, bus),
      tokens: new TokenService(db, bus),
      audit,
      secrets,
      jobs,
      arrays: new ArrayActions(db, bus, jobs),
      retention,
      pipelines: new PipelineActions(db, bus),
      placement: new TaskPlacementService(db),
      queue,
      dispatcher,
      sessions: new RunnerSessions(db, bus, queue, config.heartbeatIntervalSeconds, config.runnerApproval),
      files,
      ids: new IdResolver(db),
      artifacts: new ArtifactService(db, files),
      stats: new StatsService(db, config.heartbeatIntervalSeconds * MISSED_HEARTBEATS_BEFORE_OFFLINE),
      live: hub,
      metrics,
      installer: new SolderInstaller(),
      schedules: new ScheduleService(db, bus, scheduleFirer),
      webhooks: webhooks.service,
    };

    const maintenance = new Maintenance(db, queue, bus, health, log.child({ area: 'maintenance' }), {
      heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
      tickMs: config.maintenanceTickMs,
    });
    if (options.maintenance !== false) maintenance.start();
    cleanup.push(() => maintenance.stop());
    if (options.maintenance !== false) retention.start(() => maintenance.isLeader, config.retentionIntervalMs);
    cleanup.push(() => retention.stop());
    metrics.track({ longPollWaiters: () => dispatcher.waiting, maintenanceLeader: () => maintenance.isLeader });
    // Every replica runs one; they share the due schedules (scheduler.ts).
    const scheduler = new Scheduler(db, scheduleFirer, bus, log.child({ area: 'scheduler' }), {
      misfireGraceSeconds: config.scheduleGraceSeconds,
    });
    if (options.scheduler !== false) scheduler.start();
    cleanup.push(() => scheduler.stop());

    const { app, inFlight } = await buildApp(
      services,
      config.logLevel === 'silent'
        ? false
        : {
            level: config.logLevel,
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[REDACTED]' },
            serializers: {
              req: (req: { method: string; url: string; id: string }) => ({
                id: req.id,
                method: req.method,
                url: redactUrl(req.url),
              }),
            },
          },
      tls,
    );
    app.server.maxConnections = config.maxConnections;
    // The app closes first (stop taking requests, end long-polls), then the rest in reverse.
    cleanup.push(async () => {
      dispatcher.close();
      await closeGracefully(app, inFlight);
    });

    return {
      app,
      services,
      db,
      bus,
      maintenance,
      hub,
      log,
      createdSecrets,
      listen: () => app.listen({ host: config.host, port: config.port }),
      reloadTls: async () =>
        tlsFiles ? reloadTls(app.server as unknown as TlsServer, tlsFiles, log.child({ area: 'tls' })) : false,
      mintRegistrationToken: async (name, ttlSeconds) =>
        (await tokenStore.create(db, { kind: 'registration', name, expiresInSeconds: ttlSeconds })).token,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * Stops accepting connections, lets requests in flight finish (long-polls were ended just
 * before), then cuts every connection left: idle keep-alive ones, and ones a client opened
 * without sending a request yet, which Node would otherwise keep until its headers timeout
 * (60 s). Whatever is still running after 10 s is cut too.
 */
async function closeGracefully(app: FastifyInstance, inFlight: () => number): Promise<void> {
  const started = Date.now();
  const sweep = setInterval(() => {
    if (inFlight() === 0 || Date.now() - started > 10_000) app.server.closeAllConnections();
    else app.server.closeIdleConnections();
  }, 50);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}

async function openDatabase(
  config: MothershipConfig,
  health: DatabaseHealth,
  log: Logger,
  cleanup: Array<() => Promise<void>>,
): Promise<Database> {
  if (config.databaseUrl) {
    const db = new PgDatabase({
      connectionString: config.databaseUrl,
      maxConnections: config.databasePoolSize,
      onError: (error) => {
        health.noteFailure();
        log.warn({ err: error }, 'database connection error');
      },
    });
    cleanup.push(() => db.close());
    return db;
  }
  const dataDir = resolve(config.dataDir);
  await ensurePrivateDir(dataDir, log);
  const unlock = await lockDataDir(dataDir);
  cleanup.push(unlock);
  // Imported only here, so a mothership on PostgreSQL never holds PGlite's module in memory.
  const { PgliteDatabase } = await import('./db/pglite-database.ts');
  // Made 0700 before PGlite opens it: PGlite writes its own files readable by all (0666).
  await ensurePrivateDir(join(dataDir, 'pglite'), log);
  const db = await PgliteDatabase.open(join(dataDir, 'pglite'));
  cleanup.push(() => db.close());
  return db;
}

/**
 * The secrets' key (from BORG_SECRET_KEY or its file), and secrets still sealed under the key
 * before a rotation (BORG_SECRET_KEY_PREVIOUS) sealed again under the current one.
 */
async function openSecrets(
  db: Database,
  config: MothershipConfig,
  log: Logger,
): Promise<{ secrets: SecretService; cipher: SecretCipher }> {
  const key = await loadSecretKey(config.secretKey, secretKeyFileOf(config));
  if (!config.secretKey) await ensurePrivateFile(secretKeyFileOf(config), log);
  const previous = config.previousSecretKey
    ? [parseSecretKey(config.previousSecretKey, 'BORG_SECRET_KEY_PREVIOUS')]
    : [];
  const cipher = new SecretCipher(key, previous);
  const secrets = new SecretService(db, cipher);
  const { resealed, unreadable } = await secrets.resealUnderCurrentKey();
  if (resealed > 0) log.info({ resealed }, 'secrets re-encrypted with the current key');
  if (unreadable.length > 0) {
    log.warn({ secrets: unreadable }, 'secrets sealed under a key this mothership does not have: jobs cannot use them');
  }
  return { secrets, cipher };
}

/**
 * First start: with no user token in the database, create an admin token (or accept
 * BORG_ADMIN_TOKEN) and likewise a registration token. Generated ones are returned to be
 * printed once; only their hashes are stored. A changed BORG_ADMIN_TOKEN or
 * BORG_REGISTRATION_TOKEN revokes the value it replaces.
 */
async function bootstrapTokens(db: Database, config: MothershipConfig, log: Logger): Promise<CreatedSecrets> {
  const created: CreatedSecrets = {};
  const fromEnvironment = async (kind: 'user' | 'registration', variable: string, value: string) => {
    const name = kind === 'user' ? `admin (${variable})` : `registration (${variable})`;
    const { revoked, replaced } = await tokenStore.ensure(db, kind, name, value, kind === 'user' ? 'admin' : undefined);
    if (replaced > 0) log.info(`${variable} changed: the previous value is revoked`);
    if (revoked) log.warn(`${variable} holds a token that was revoked: it is refused; set a new value`);
  };
  if (config.adminToken) {
    await fromEnvironment('user', 'BORG_ADMIN_TOKEN', config.adminToken);
  } else if ((await tokenStore.countActive(db, 'user')) === 0) {
    created.adminToken = (await tokenStore.create(db, { kind: 'user', name: 'admin', role: 'admin' })).token;
  }
  if (config.registrationToken) {
    await fromEnvironment('registration', 'BORG_REGISTRATION_TOKEN', config.registrationToken);
  } else if ((await tokenStore.countActive(db, 'registration')) === 0) {
    created.registrationToken = (await tokenStore.create(db, { kind: 'registration', name: 'default' })).token;
  }
  return created;
}

/** Rebuilds an event that another replica sent by reference (too big for NOTIFY). */
async function resolveReference(db: Database, ref: EventReference) {
  switch (ref.kind) {
    case 'job': {
      const row = await jobStore.get(db, ref.id);
      if (!row) return null;
      return { type: 'job.updated' as const, job: await jobViews.one(db, row) };
    }
    case 'task': {
      const row = await taskStore.get(db, ref.id);
      return row ? { type: 'task.updated' as const, task: toTask(row) } : null;
    }
    case 'runner': {
      const runner = await runnerStore.get(db, ref.id);
      return runner ? { type: 'runner.updated' as const, runner } : null;
    }
    case 'task.log':
      return {
        type: 'task.log' as const,
        task_id: ref.task_id,
        lines: await logStore.range(db, ref.task_id, ref.from, ref.to),
      };
  }
}
