import { readFile } from 'node:fs/promises';
import { cpus, homedir, hostname } from 'node:os';
import { join } from 'node:path';

import { JOB_TYPES, Labels, parseByteSize } from '@borg/protocol';
import { sendsTokensInClear } from '@borg/protocol/transport';
import { z } from 'zod';

import { DEFAULT_INPUT_CACHE_BYTES } from './input-files.ts';

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

/** `k=v,k2=v2` on the command line and in the environment; an object in the config file. */
const LabelList = z
  .union([
    z.string().transform((s, ctx) => {
      const labels: Record<string, string> = {};
      for (const pair of s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const at = pair.indexOf('=');
        if (at <= 0) {
          ctx.addIssue({ code: 'custom', message: `labels are key=value, got "${pair}"` });
          return z.NEVER;
        }
        labels[pair.slice(0, at)] = pair.slice(at + 1);
      }
      return labels;
    }),
    z.record(z.string(), z.string()),
  ])
  .pipe(Labels);

/** "90", "90s", "15m", "2h" → seconds. */
const Duration = z.union([
  z.number().nonnegative(),
  z
    .string()
    .regex(/^\d+(\.\d+)?(s|m|h)?$/, 'durations look like 90, 90s, 15m or 2h')
    .transform((s) => {
      const value = parseFloat(s);
      const unit = s.at(-1);
      return unit === 'h' ? value * 3600 : unit === 'm' ? value * 60 : value;
    }),
]);

/** "10GiB", "500MB", "4096" (KiB, MiB, GiB, KB, MB, GB; a bare number is bytes) → bytes; a number in the file is bytes. */
const ByteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseByteSize(value);
  if (bytes === null || !Number.isSafeInteger(bytes) || bytes < 0) {
    ctx.addIssue({
      code: 'custom',
      message: `a size like 10GiB (KiB, MiB, GiB, KB, MB, GB), got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return bytes;
});

/** `a,b,c` on the command line and in the environment; an array in the config file. */
const CommaList = z
  .union([
    z.string().transform((s) =>
      s
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    ),
    z.array(z.string()),
  ])
  .pipe(z.array(z.string().min(1).max(512)).min(1, 'give at least one'));

/** `FIRST-LAST`: a block of numeric user ids, one per task slot. */
const UidRange = z
  .string()
  .regex(/^\d+-\d+$/, 'a uid range looks like 200000-200063')
  .transform((s, ctx) => {
    const [first, last] = s.split('-').map(Number) as [number, number];
    if (first < 1000 || last < first || last > 2_147_483_647) {
      ctx.addIssue({
        code: 'custom',
        message: 'the range must be FIRST-LAST with 1000 <= FIRST <= LAST <= 2147483647',
      });
      return z.NEVER;
    }
    return { first, last };
  });

/** `0,1,3` (nvidia-smi indices) or `none` on the command line and in the environment; an array or "none" in the file. */
const GpuSelection = z
  .union([z.string(), z.array(z.number().int().min(0).max(1023))])
  .transform((value, ctx): number[] => {
    if (Array.isArray(value)) return [...new Set(value)].sort((x, y) => x - y);
    if (value.trim() === 'none') return [];
    if (!/^\s*\d{1,4}\s*(,\s*\d{1,4}\s*)*$/.test(value)) {
      ctx.addIssue({ code: 'custom', message: `GPUs are nvidia-smi indices like 0,1,3, or none; got "${value}"` });
      return z.NEVER;
    }
    return [...new Set(value.split(',').map(Number))].sort((x, y) => x - y);
  });

/**
 * Every solder setting: a flag, an environment variable and a config-file key (the names
 * below, in a JSON file given by --config / BORG_SOLDER_CONFIG). Flags win over the
 * environment, the environment over the file.
 */
export const SolderConfig = z.object({
  /** --mothership, BORG_MOTHERSHIP_ADDR: the mothership's URL. */
  mothership: z.url({ protocol: /^https?$/, error: 'the mothership address is a http(s):// URL' }),
  /** --registration-token, BORG_REGISTRATION_TOKEN: needed for the first registration. */
  registrationToken: z.string().min(1).max(512).optional(),
  /** --registration-token-file, BORG_REGISTRATION_TOKEN_FILE: the registration token, read from a file. */
  registrationTokenFile: z.string().min(1).optional(),
  /** --name, BORG_SOLDER_NAME: shown in the dashboard; default the host name. */
  name: z.string().min(1).max(200).default(hostname()),
  /** --labels, BORG_LABELS: k=v,… added to the automatic os, arch and gpu labels. */
  labels: LabelList.default({}),
  /** --max-concurrent-tasks, BORG_MAX_CONCURRENT_TASKS: default the number of CPUs. */
  maxConcurrentTasks: z.coerce.number().int().min(1).max(1024).default(Math.max(1, cpus().length)),
  /** --cpu, BORG_CPU: CPUs offered to tasks that ask for CPU; default the detected core count. */
  cpu: z.coerce.number().min(0).max(65_536).optional(),
  /** --memory, BORG_MEMORY: MB offered to tasks that ask for memory; default the machine's total less --reserve-memory. */
  memory: z.coerce
    .number()
    .int()
    .min(0)
    .max(1024 * 1024 * 1024)
    .optional(),
  /** --reserve-memory, BORG_RESERVE_MEMORY: MB of the detected total kept back for the system (not used with --memory). */
  reserveMemory: z.coerce
    .number()
    .int()
    .min(0)
    .max(1024 * 1024 * 1024)
    .default(0),
  /** --gpus, BORG_GPUS: the GPUs (nvidia-smi indices) offered to tasks, or none; default every detected GPU. */
  gpus: GpuSelection.optional(),
  /** --state-dir, BORG_STATE_DIR: identity (device id, runner token; mode 600) and caches. */
  stateDir: z.string().default(join(homedir(), '.borg', 'solder')),
  /** --cache-size, BORG_CACHE_SIZE: most bytes the input cache keeps (least recently used go first). */
  cacheSize: ByteSize.default(DEFAULT_INPUT_CACHE_BYTES),
  /** --work-dir, BORG_WORK_DIR: task workspaces; default <state dir>/work. */
  workDir: z.string().optional(),
  /** --container-cli, BORG_CONTAINER_CLI: docker, podman, or a path to a compatible CLI; default the first of docker and podman that works. */
  containerCli: z.string().min(1).optional(),
  /** --container-network, BORG_CONTAINER_NETWORK: network mode for container tasks. */
  containerNetwork: z.string().min(1).default('bridge'),
  /** --run-as, BORG_RUN_AS: the user tasks run as (a root solder only; default borg-task, else nobody). */
  runAs: z.string().min(1).max(64).optional(),
  /** --task-uids, BORG_TASK_UIDS: FIRST-LAST, a uid of its own for every running task (a root solder only). */
  taskUids: UidRange.optional(),
  /** --job-types, BORG_JOB_TYPES: the job types this solder claims (default all). */
  jobTypes: CommaList.pipe(z.array(z.enum(JOB_TYPES))).optional(),
  /** --allowed-images, BORG_ALLOWED_IMAGES: globs a container task's image must match (default any). */
  allowedImages: CommaList.optional(),
  /** --pids-limit, BORG_PIDS_LIMIT: most processes in one container task. */
  pidsLimit: z.coerce.number().int().min(1).max(4_194_304).default(4096),
  /** --shell, BORG_SHELL: runs shell tasks as `<shell> -c <command>`. */
  shell: z.string().min(1).default('/bin/sh'),
  /** --cancel-grace-period, BORG_CANCEL_GRACE_PERIOD: SIGTERM, then SIGKILL after this long. */
  cancelGracePeriod: Duration.default(10),
  /** --keep-workspaces, BORG_KEEP_WORKSPACES: never, failed or always (for debugging). */
  keepWorkspaces: z.enum(['never', 'failed', 'always']).default('never'),
  /** --once, BORG_ONCE: run one task, then exit. */
  once: bool.default(false),
  /** --max-tasks, BORG_MAX_TASKS: exit after starting this many tasks (and finishing them). */
  maxTasks: z.coerce.number().int().min(1).optional(),
  /** --idle-exit, BORG_IDLE_EXIT: exit after this long with nothing to do (e.g. 10m). */
  idleExit: Duration.optional(),
  /** --long-poll, BORG_LONG_POLL: seconds one claim request may wait for work. */
  longPollSeconds: z.coerce.number().int().min(1).max(120).default(30),
  /** --insecure, BORG_INSECURE: allow sending tokens over plain http to a non-loopback host. */
  insecure: bool.default(false),
});
export type SolderConfig = z.output<typeof SolderConfig>;
export type SolderConfigKey = keyof SolderConfig;

export const SOLDER_ENV_VARS: Record<SolderConfigKey, string> = {
  mothership: 'BORG_MOTHERSHIP_ADDR',
  registrationToken: 'BORG_REGISTRATION_TOKEN',
  registrationTokenFile: 'BORG_REGISTRATION_TOKEN_FILE',
  name: 'BORG_SOLDER_NAME',
  labels: 'BORG_LABELS',
  maxConcurrentTasks: 'BORG_MAX_CONCURRENT_TASKS',
  cpu: 'BORG_CPU',
  memory: 'BORG_MEMORY',
  reserveMemory: 'BORG_RESERVE_MEMORY',
  gpus: 'BORG_GPUS',
  stateDir: 'BORG_STATE_DIR',
  cacheSize: 'BORG_CACHE_SIZE',
  workDir: 'BORG_WORK_DIR',
  containerCli: 'BORG_CONTAINER_CLI',
  containerNetwork: 'BORG_CONTAINER_NETWORK',
  runAs: 'BORG_RUN_AS',
  taskUids: 'BORG_TASK_UIDS',
  jobTypes: 'BORG_JOB_TYPES',
  allowedImages: 'BORG_ALLOWED_IMAGES',
  pidsLimit: 'BORG_PIDS_LIMIT',
  shell: 'BORG_SHELL',
  cancelGracePeriod: 'BORG_CANCEL_GRACE_PERIOD',
  keepWorkspaces: 'BORG_KEEP_WORKSPACES',
  once: 'BORG_ONCE',
  maxTasks: 'BORG_MAX_TASKS',
  idleExit: 'BORG_IDLE_EXIT',
  longPollSeconds: 'BORG_LONG_POLL',
  insecure: 'BORG_INSECURE',
};

/** Layers: config file < environment < flags. */
export async function loadSolderConfig(
  flags: Partial<Record<SolderConfigKey, unknown>>,
  env: NodeJS.ProcessEnv = process.env,
  configFile: string | undefined = env.BORG_SOLDER_CONFIG,
): Promise<SolderConfig> {
  const raw: Record<string, unknown> = {};
  if (configFile) {
    const text = await readFile(configFile, 'utf8').catch((error: Error) => {
      throw new Error(`cannot read the config file ${configFile}: ${error.message}`, { cause: error });
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`the config file ${configFile} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`the config file ${configFile} must hold a JSON object`);
    }
    const unknown = Object.keys(parsed).filter((key) => !(key in SOLDER_ENV_VARS));
    if (unknown.length > 0) throw new Error(`unknown key(s) in ${configFile}: ${unknown.join(', ')}`);
    Object.assign(raw, parsed);
  }
  for (const [key, name] of Object.entries(SOLDER_ENV_VARS)) {
    if (env[name] !== undefined && env[name] !== '') raw[key] = env[name];
  }
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) raw[key] = value;

  const result = SolderConfig.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = issue.path[0] as SolderConfigKey;
      return `${SOLDER_ENV_VARS[key] ?? String(key)} (--${kebab(String(key))}): ${issue.message}`;
    });
    throw new Error(`invalid solder configuration:\n  ${problems.join('\n  ')}`);
  }
  if (result.data.registrationToken && result.data.registrationTokenFile) {
    throw new Error(
      'invalid solder configuration:\n  give the registration token one way: BORG_REGISTRATION_TOKEN (--registration-token) or BORG_REGISTRATION_TOKEN_FILE (--registration-token-file)',
    );
  }
  return result.data;
}

export function workDirOf(config: SolderConfig): string {
  return config.workDir ?? join(config.stateDir, 'work');
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A14: a token must not cross the network in clear text unless the operator says so. */
export function assertTransportIsSafe(config: SolderConfig): void {
  const url = new URL(config.mothership);
  if (sendsTokensInClear(url) && !config.insecure) {
    throw new Error(
      `refusing to send tokens in clear text to ${url.origin}: use https, or pass --insecure (BORG_INSECURE=true) on a trusted network`,
    );
  }
}
