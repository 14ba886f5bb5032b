import { join, resolve } from 'node:path';

import { MIN_LOG_LIMIT_BYTES, parseByteSize, parseDurationMs } from '@borg/protocol';
import { z } from 'zod';

import { parseStorageUrl } from './files/storage-url.ts';

const positiveInt = z.coerce.number().int().positive();
/** `true`/`false` (also `1`/`0`) from the environment; a boolean from code. */
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

/** A retention setting: a duration ("90d", "12h", "30s") in whole seconds, or `off` (null: keep for ever). */
function retentionSetting(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      if (text.trim().toLowerCase() === 'off') return null;
      const ms = parseDurationMs(text);
      if (ms === undefined || ms < 1000) {
        ctx.addIssue({ code: 'custom', message: 'a duration of at least 1s, like "90d", "12h" or "30s", or "off"' });
        return z.NEVER;
      }
      return Math.floor(ms / 1000);
    });
}

/**
 * A token chosen by hand must be as hard to guess as a generated one: 32 characters of
 * `openssl rand -hex` are 128 bits, while a short one is too often a word anyone can try.
 */
export const MIN_ENVIRONMENT_TOKEN_LENGTH = 32;
const environmentToken = z
  .string()
  .min(MIN_ENVIRONMENT_TOKEN_LENGTH, {
    message: `must be at least ${MIN_ENVIRONMENT_TOKEN_LENGTH} characters long; make one with \`openssl rand -hex 32\``,
  })
  .max(512);

/**
 * Every server setting, with its environment variable and default. Flags on
 * `borg mothership` map onto the same keys and win over the environment.
 */
export const MothershipConfig = z.object({
  /** BORG_HOST: address to listen on. */
  host: z.string().default('0.0.0.0'),
  /** BORG_PORT */
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  /** DATABASE_URL: a PostgreSQL server; unset means embedded PostgreSQL (PGlite) in the data directory. */
  databaseUrl: z.string().optional(),
  /**
   * BORG_DATABASE_POOL_SIZE: connections this replica keeps to a PostgreSQL server (plus one
   * for LISTEN and, on the maintenance leader, one for its lock). Every replica's pool counts
   * against the server's max_connections.
   */
  databasePoolSize: positiveInt.max(1000).default(20),
  /** BORG_DATA_DIR: the embedded database and, by default, stored files. */
  dataDir: z.string().default('./borg-data'),
  /** BORG_STORAGE_DIR: uploaded files and artifacts; share it between replicas. Default: <data dir>/storage. */
  storageDir: z.string().optional(),
  /**
   * BORG_STORAGE_URL: `s3://bucket/prefix?endpoint=…&region=…&force_path_style=true` stores files
   * and artifacts in an S3-compatible bucket instead of the storage directory; credentials come from
   * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the AWS SDK's other sources.
   */
  storageUrl: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseStorageUrl(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .optional(),
  /** BORG_ADMIN_TOKEN: a user token to accept, for automation; otherwise one is generated and printed on first start. */
  adminToken: environmentToken.optional(),
  /** BORG_REGISTRATION_TOKEN: the token solders register with; otherwise generated and printed on first start. */
  registrationToken: environmentToken.optional(),
  /**
   * BORG_SECRET_KEY: the key secrets are encrypted with (AES-256-GCM): 32 bytes as 64 hex digits
   * or base64. Every replica needs the same one. Unset: the key file below.
   */
  secretKey: z.string().optional(),
  /** BORG_SECRET_KEY_FILE: where the key is kept when BORG_SECRET_KEY is unset; created (mode 600) on first start. Default: <data dir>/secret.key. */
  secretKeyFile: z.string().optional(),
  /** BORG_SECRET_KEY_PREVIOUS: the key before a rotation; secrets still under it are re-encrypted with the current key at start. */
  previousSecretKey: z.string().optional(),
  /** BORG_HEARTBEAT_INTERVAL_SECONDS: sent to runners; three missed intervals mark a runner offline. */
  heartbeatIntervalSeconds: positiveInt.max(3600).default(30),
  /** BORG_MAX_UPLOAD_BYTES: the largest file or artifact accepted (413 above it). */
  maxUploadBytes: positiveInt.default(10 * 1024 ** 3),
  /**
   * BORG_TASK_LOG_LIMIT: the most log a task keeps ("64MiB"; KiB, MiB, GiB, KB, MB, GB); past it
   * the first and last quarters stay and the middle is dropped. A job's log_limit replaces it.
   */
  taskLogLimitBytes: z
    .string()
    .default('64MiB')
    .transform((text, ctx) => {
      const bytes = parseByteSize(text);
      if (bytes === null || bytes < MIN_LOG_LIMIT_BYTES) {
        ctx.addIssue({ code: 'custom', message: 'a size of at least 4KiB, like "64MiB" (KiB, MiB, GiB, KB, MB, GB)' });
        return z.NEVER;
      }
      return bytes;
    }),
  /** BORG_RETRY_BASE_DELAY_MS: backoff before a task's 2nd attempt, doubled for each further one. */
  retryBaseDelayMs: z.coerce.number().int().min(0).default(2_000),
  /** BORG_RETRY_MAX_DELAY_MS: cap of the retry backoff. */
  retryMaxDelayMs: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 60_000),
  /** BORG_MAINTENANCE_TICK_MS: how often the maintenance leader runs the reaper, timeouts and retry clock. */
  maintenanceTickMs: positiveInt.default(1_000),
  /**
   * BORG_MAX_CONNECTIONS: open TCP connections this replica accepts at most (each runner holds
   * one or two); past it new ones are closed at once, so a flood cannot exhaust file descriptors.
   */
  maxConnections: positiveInt.default(50_000),
  /** BORG_RETENTION_JOBS: ended jobs are deleted this long after they end, with their attempts, logs and artifacts (a job's `retention` replaces it). */
  retentionJobsSeconds: retentionSetting('90d'),
  /** BORG_RETENTION_ARTIFACTS: artifacts are deleted this long after upload, before their job (default off: they go with it). */
  retentionArtifactsSeconds: retentionSetting('off'),
  /** BORG_RETENTION_FILES: uploaded files no job uses are deleted this long after upload. */
  retentionFilesSeconds: retentionSetting('7d'),
  /** BORG_RETENTION_RUNNERS: runners offline this long leave every list (their device may register again). */
  retentionRunnersSeconds: retentionSetting('30d'),
  /** BORG_RETENTION_INTERVAL_MS: how often the maintenance leader looks for expired data. */
  retentionIntervalMs: positiveInt.default(60_000),
  /**
   * BORG_SCHEDULE_GRACE_SECONDS: a schedule's slot at most this late still fires (a busy
   * or restarting mothership skips nothing); an older one was missed, and the schedule's
   * catch_up decides (`none`: skip it, `last`: fire once for the latest).
   */
  scheduleGraceSeconds: positiveInt.max(86_400).default(60),
  /**
   * BORG_SLOW_CLIENT_TIMEOUT_MS: a client must send its request headers within this time, and a
   * request body must keep arriving at 16 KiB or more per such window; slower ones are cut off
   * (slowloris). Long-polls and big uploads at any real speed are unaffected.
   */
  slowClientTimeoutMs: positiveInt.min(100).max(600_000).default(30_000),
  /**
   * BORG_AUTH_FAILURES_PER_MINUTE: failed authentications (a wrong, revoked or expired token) one
   * client address may make per minute; past it, that address gets 429 until the minute ends,
   * except for tokens it recently used successfully. 0 turns the limit off.
   */
  authFailuresPerMinute: z.coerce.number().int().min(0).default(60),
  /**
   * BORG_RUNNER_APPROVAL: a newly registered runner gets no work until an operator approves it
   * (`POST /api/v1/runners/:id/approve`). Runners known before keep their standing.
   */
  runnerApproval: flag.default(false),
  /** BORG_REGISTRATIONS_PER_MINUTE: runner registrations one client address may make per minute (429 past it); 0 is no limit. */
  registrationsPerMinute: z.coerce.number().int().min(0).default(300),
  /**
   * BORG_TRUST_PROXY: addresses or CIDR ranges (comma-separated) of the load balancers in front;
   * for requests from them, the client address is read from X-Forwarded-For, so per-address
   * limits count each client and not the balancer. Unset: the header is ignored (it could be forged).
   */
  trustProxy: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .default([]),
  /**
   * BORG_PUBLIC_URL: the address workers reach this mothership at, written into the install
   * script (`/install.sh`); default: the address each request for the script came to.
   */
  publicUrl: z.url({ protocol: /^https?$/, error: 'BORG_PUBLIC_URL is a http(s):// URL' }).optional(),
  /** BORG_ALLOWED_ORIGINS: extra browser origins (comma-separated) allowed to open the WebSocket. */
  allowedOrigins: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .default([]),
  /**
   * BORG_METRICS_PUBLIC: serve /metrics without a token, for a Prometheus scraper on a private
   * network. Off by default: like every route but the health checks, it needs a user token.
   */
  metricsPublic: flag.default(false),
  /** BORG_LOG_LEVEL: fatal, error, warn, info, debug, trace or silent. */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** BORG_TLS_CERT: a PEM certificate (chain) file; with BORG_TLS_KEY the mothership serves HTTPS, and reloads both on SIGHUP. */
  tlsCert: z.string().min(1).optional(),
  /** BORG_TLS_KEY: the PEM private key file of BORG_TLS_CERT. */
  tlsKey: z.string().min(1).optional(),
  /**
   * BORG_WEBHOOK_ALLOW_PRIVATE: let webhook deliveries go to loopback, link-local and private
   * addresses and to this machine's own (a receiver on the same host or network). Off: those are
   * refused at creation (a literal address) and on every connection (what a name resolves to).
   */
  webhookAllowPrivate: flag.default(false),
  /** BORG_WEBHOOK_TIMEOUT_MS: a webhook delivery's limit for connecting, for the answer's headers, and for the whole exchange. */
  webhookTimeoutMs: positiveInt.max(120_000).default(10_000),
  /** BORG_WEBHOOK_RETRY_BASE_MS: backoff after a failed delivery attempt, doubled for each further one (with jitter). */
  webhookRetryBaseMs: positiveInt.default(10_000),
  /** BORG_WEBHOOK_RETRY_MAX_MS: cap of the webhook backoff. */
  webhookRetryMaxMs: positiveInt.default(3_600_000),
  /** BORG_WEBHOOK_RETRY_FOR_SECONDS: a delivery that keeps failing is retried this long, then marked failed. */
  webhookRetryForSeconds: positiveInt.default(86_400),
});
export type MothershipConfig = z.output<typeof MothershipConfig>;
export type MothershipConfigInput = z.input<typeof MothershipConfig>;

export const ENV_VARS: Record<keyof MothershipConfig, string> = {
  host: 'BORG_HOST',
  port: 'BORG_PORT',
  databaseUrl: 'DATABASE_URL',
  databasePoolSize: 'BORG_DATABASE_POOL_SIZE',
  dataDir: 'BORG_DATA_DIR',
  storageDir: 'BORG_STORAGE_DIR',
  storageUrl: 'BORG_STORAGE_URL',
  adminToken: 'BORG_ADMIN_TOKEN',
  registrationToken: 'BORG_REGISTRATION_TOKEN',
  secretKey: 'BORG_SECRET_KEY',
  secretKeyFile: 'BORG_SECRET_KEY_FILE',
  previousSecretKey: 'BORG_SECRET_KEY_PREVIOUS',
  heartbeatIntervalSeconds: 'BORG_HEARTBEAT_INTERVAL_SECONDS',
  maxUploadBytes: 'BORG_MAX_UPLOAD_BYTES',
  taskLogLimitBytes: 'BORG_TASK_LOG_LIMIT',
  retryBaseDelayMs: 'BORG_RETRY_BASE_DELAY_MS',
  retryMaxDelayMs: 'BORG_RETRY_MAX_DELAY_MS',
  maintenanceTickMs: 'BORG_MAINTENANCE_TICK_MS',
  maxConnections: 'BORG_MAX_CONNECTIONS',
  retentionJobsSeconds: 'BORG_RETENTION_JOBS',
  retentionArtifactsSeconds: 'BORG_RETENTION_ARTIFACTS',
  retentionFilesSeconds: 'BORG_RETENTION_FILES',
  retentionRunnersSeconds: 'BORG_RETENTION_RUNNERS',
  retentionIntervalMs: 'BORG_RETENTION_INTERVAL_MS',
  scheduleGraceSeconds: 'BORG_SCHEDULE_GRACE_SECONDS',
  slowClientTimeoutMs: 'BORG_SLOW_CLIENT_TIMEOUT_MS',
  authFailuresPerMinute: 'BORG_AUTH_FAILURES_PER_MINUTE',
  registrationsPerMinute: 'BORG_REGISTRATIONS_PER_MINUTE',
  runnerApproval: 'BORG_RUNNER_APPROVAL',
  trustProxy: 'BORG_TRUST_PROXY',
  allowedOrigins: 'BORG_ALLOWED_ORIGINS',
  publicUrl: 'BORG_PUBLIC_URL',
  metricsPublic: 'BORG_METRICS_PUBLIC',
  logLevel: 'BORG_LOG_LEVEL',
  tlsCert: 'BORG_TLS_CERT',
  tlsKey: 'BORG_TLS_KEY',
  webhookAllowPrivate: 'BORG_WEBHOOK_ALLOW_PRIVATE',
  webhookTimeoutMs: 'BORG_WEBHOOK_TIMEOUT_MS',
  webhookRetryBaseMs: 'BORG_WEBHOOK_RETRY_BASE_MS',
  webhookRetryMaxMs: 'BORG_WEBHOOK_RETRY_MAX_MS',
  webhookRetryForSeconds: 'BORG_WEBHOOK_RETRY_FOR_SECONDS',
};

/** Reads the environment, then lays explicit overrides (flags) on top. */
export function loadConfig(
  overrides: Partial<Record<keyof MothershipConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): MothershipConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) raw[key] = value;
  }
  const parsed = MothershipConfig.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const key = issue.path[0] as keyof MothershipConfig;
        return `${ENV_VARS[key] ?? key}: ${issue.message}`;
      });
  // Half a TLS setup must not fall back to plain HTTP, where tokens would cross the network in clear.
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined)) {
    const missing = raw.tlsCert === undefined ? 'BORG_TLS_CERT (--tls-cert)' : 'BORG_TLS_KEY (--tls-key)';
    problems.push(`${missing}: BORG_TLS_CERT and BORG_TLS_KEY go together: give both to serve HTTPS, or neither`);
  }
  if (!parsed.success || problems.length > 0) throw new Error(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return parsed.data;
}

/** The certificate and key to serve HTTPS with, when both are configured. */
export function tlsFilesOf(config: MothershipConfig): { cert: string; key: string } | undefined {
  return config.tlsCert && config.tlsKey ? { cert: resolve(config.tlsCert), key: resolve(config.tlsKey) } : undefined;
}

export function secretKeyFileOf(config: MothershipConfig): string {
  return resolve(config.secretKeyFile ?? join(config.dataDir, 'secret.key'));
}

export function storageDirOf(config: MothershipConfig): string {
  return resolve(config.storageDir ?? join(config.dataDir, 'storage'));
}
