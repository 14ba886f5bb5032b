import { z } from 'zod';

import { Env, Id, Labels, page, Timestamp } from './common.ts';
import { JobFileWithMeta } from './files.ts';
import { JOB_TYPES, JobType, Task, TaskStatus } from './jobs.ts';
import { LogOverflow } from './log-limit.ts';
import { AssignedGpu, GpuSample, ResourceRequest, RunnerCapacity, RunnerGpu } from './placement.ts';

export const RUNNER_STATUSES = ['online', 'busy', 'draining', 'offline'] as const;
export const RunnerStatus = z.enum(RUNNER_STATUSES);
export type RunnerStatus = z.infer<typeof RunnerStatus>;

const MAX_RESOURCES_DEPTH = 16;

/** What the solder detected about its machine; free-form so new probes need no protocol change. */
export const Resources = z
  .record(z.string().max(64), z.unknown())
  // The depth is checked first, without recursion: a 100,000-deep object would overflow the
  // stack of JSON.stringify (a 500), and a merely deep one that of the database's jsonb parser.
  .refine(
    (r) => jsonDepthAtMost(r, MAX_RESOURCES_DEPTH) && JSON.stringify(r).length <= 65_536,
    `resources must be at most 64 KiB of JSON, nested at most ${MAX_RESOURCES_DEPTH} deep`,
  );

/** True when no array or object in `value` sits deeper than `max` levels (iterative: no stack to overflow). */
function jsonDepthAtMost(value: unknown, max: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth > max) return false;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return true;
}

export const RegisterRunnerRequest = z.strictObject({
  device_id: z.string().min(1).max(128),
  name: z.string().trim().min(1).max(200),
  hostname: z.string().max(255).default(''),
  os: z.string().max(64).default(''),
  arch: z.string().max(64).default(''),
  version: z.string().max(64).optional(),
  /** The runner protocol version the solder speaks (PROTOCOL_VERSION); absent: 1. */
  protocol_version: z.number().int().min(1).max(10_000).default(1),
  max_concurrent_tasks: z.number().int().min(1).max(1024).default(1),
  labels: Labels.default({}),
  resources: Resources.default({}),
  /** What it offers to tasks that ask for resources; absent: it takes only tasks that ask for none. */
  capacity: RunnerCapacity.optional(),
  /**
   * The job types it takes (no container runtime: no container jobs; its --job-types), for
   * placement's reasons; absent (solders older than this field): not said, read as every type.
   * Its claims still name the types they take.
   */
  job_types: z.array(JobType).min(1).max(JOB_TYPES.length).optional(),
  /** The seed sent the registration token in the body; the Authorization header is preferred. */
  token: z.string().max(512).optional(),
});
export type RegisterRunnerRequest = z.input<typeof RegisterRunnerRequest>;

export const Runner = z.object({
  id: Id,
  device_id: z.string(),
  name: z.string(),
  hostname: z.string(),
  os: z.string(),
  arch: z.string(),
  version: z.string().nullable(),
  /** The runner protocol version it speaks, and whether this mothership speaks it too. */
  protocol_version: z.number().int(),
  protocol_supported: z.boolean(),
  status: RunnerStatus,
  /** Why it is offline: `stopped` when its solder stopped cleanly and said so; null when it went silent (or is online). */
  offline_reason: z.enum(['stopped']).nullable().optional(),
  draining: z.boolean(),
  /** False while the runner waits for an operator's approval (BORG_RUNNER_APPROVAL): it gets no work. */
  approved: z.boolean(),
  max_concurrent_tasks: z.number().int(),
  active_tasks: z.number().int(),
  labels: z.record(z.string(), z.string()),
  resources: z.record(z.string(), z.unknown()),
  /** CPU and memory it offers to tasks that ask for them, and what its live tasks hold; null: never sent. */
  capacity: z
    .object({ cpu: z.number(), memory_mb: z.number(), cpu_used: z.number(), memory_used_mb: z.number() })
    .nullable()
    .default(null),
  /** Its GPUs, each with its last sample and the task holding it. */
  gpus: z.array(RunnerGpu).default([]),
  /** Labels plus what detection knows (cpu_count, memory_gb, gpu_count, gpu_model, os, arch, hostname): what constraints read. */
  attributes: z.record(z.string(), z.string()).default({}),
  /** The job types it said at registration that it takes; null: every type (or its solder did not say). */
  job_types: z.array(JobType).nullable().default(null),
  last_heartbeat: Timestamp.nullable(),
  created_at: Timestamp,
});
export type Runner = z.infer<typeof Runner>;

export const RunnerPage = page(Runner);
export type RunnerPage = z.infer<typeof RunnerPage>;

export const ListRunnersQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(512).optional(),
});
export type ListRunnersQuery = z.input<typeof ListRunnersQuery>;

export const RegisterRunnerResponse = z.object({
  id: Id,
  /** The runner's own token. Shown once; only its hash is stored. */
  token: z.string(),
  heartbeat_interval_seconds: z.number().int(),
  /**
   * How long the mothership waits without a heartbeat before it calls this runner offline and runs
   * its tasks elsewhere (absent from older motherships: three intervals). A solder out of touch
   * that long stops its tasks, unless their job says otherwise (on_disconnect).
   */
  offline_after_seconds: z.number().int().optional(),
  runner: Runner,
});
export type RegisterRunnerResponse = z.infer<typeof RegisterRunnerResponse>;

export const HeartbeatRequest = z.strictObject({
  /** `stopping`: the solder's last heartbeat, sent when it has stopped cleanly; the runner is offline (stopped) at once. */
  status: z.enum(['online', 'busy', 'idle', 'draining', 'stopping']).optional(),
  active_tasks: z.number().int().min(0).max(100_000).optional(),
  /** The tasks the solder is running; any the server no longer gives it come back in `abandon_task_ids`. */
  task_ids: z.array(Id).max(1024).optional(),
  resources: Resources.optional(),
  /** The GPUs sampled since the last heartbeat (those a task holds), newest last. */
  gpus: z.array(GpuSample).max(1024).optional(),
});
export type HeartbeatRequest = z.input<typeof HeartbeatRequest>;

export const HeartbeatResponse = z.object({
  ok: z.literal(true),
  heartbeat_interval_seconds: z.number().int(),
  /** As in the registration's answer. */
  offline_after_seconds: z.number().int().optional(),
  draining: z.boolean(),
  /** Live tasks of this runner whose cancellation was requested: stop them and report `cancelled`. */
  cancel_task_ids: z.array(Id),
  /** Tasks the solder reported but no longer holds (lost, or finished elsewhere): stop them, report nothing. */
  abandon_task_ids: z.array(Id),
  /**
   * Tasks the solder reported that the mothership took back while it was out of touch, of jobs
   * that keep such copies (on_disconnect keep) and whose element has not succeeded: let them run;
   * one that succeeds is taken over (POST /tasks/:id/take-over), first success wins.
   */
  kept_task_ids: z.array(Id).default([]),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

export const NextTasksQuery = z.strictObject({
  /** Seconds to hold the request open when nothing is claimable (long-poll); 0 answers at once. */
  wait: z.coerce.number().int().min(0).max(120).default(0),
  /** Tasks wanted; the server also caps it at the runner's free capacity. 0 only listens for cancels. */
  max: z.coerce.number().int().min(0).max(256).default(1),
  /**
   * Only tasks of these job types (comma-separated, or the parameter repeated; default every
   * type): a solder that does not run some types leaves them in the queue for others.
   */
  job_types: z
    .union([z.string().max(100), z.array(z.string().max(20)).max(10)])
    .transform((value) => (typeof value === 'string' ? value.split(',') : value))
    .pipe(z.array(JobType).min(1))
    .optional(),
});

/** A claimed task with everything the solder needs to run it. */
export const ClaimedTask = z.object({
  id: Id,
  job_id: Id,
  job_name: z.string(),
  index: z.number().int(),
  attempt: z.number().int(),
  status: TaskStatus,
  type: JobType,
  command: z.union([z.string(), z.array(z.string())]),
  image: z.string().nullable(),
  /** A container task's `--user` (`uid` or `uid:gid`), when its job asks for one. */
  user: z.string().nullable().optional(),
  /** The job's env plus BORG_JOB_ID, BORG_TASK_ID, BORG_TASK_INDEX and BORG_ATTEMPT. */
  env: Env,
  /**
   * The job's secrets by environment variable, decrypted for this runner alone: it passes them to
   * the task and masks their values in everything the task prints.
   */
  secrets: z.record(z.string(), z.string()).default({}),
  /** Secrets the job names that no longer exist: the task must not run without them. */
  missing_secrets: z.array(z.string()).default([]),
  labels: z.record(z.string(), z.string()),
  /** What the task asked for; the solder passes it on (GPUs as devices, the rest for information). */
  resources: ResourceRequest.default({}),
  /**
   * The runner's GPUs assigned to this attempt alone: the solder exposes exactly these to the task
   * (CUDA_VISIBLE_DEVICES, or the container CLI's device flag) and no GPU to a task given none.
   */
  gpus: z.array(AssignedGpu).default([]),
  timeout_seconds: z.number().int().nullable(),
  files: z.array(JobFileWithMeta),
  artifacts: z.array(z.string()),
  /**
   * The job's on_disconnect: stop the task after `stop_after_seconds` out of touch with the
   * mothership, or `keep` it running. Null: the default, stop after the offline window.
   */
  on_disconnect: z.object({ stop_after_seconds: z.number().nullable(), keep: z.boolean() }).nullable().default(null),
  /**
   * The task's log limit in bytes (the job's, else the server's): the solder sends the first
   * quarter, keeps the last quarter in a ring, drops the middle with one marker line. Null: none.
   */
  log_limit: z.number().int().nullable().optional(),
  /** Past the limit: `truncate` (absent too) or `fail` the task. */
  log_overflow: LogOverflow.optional(),
});
export type ClaimedTask = z.infer<typeof ClaimedTask>;

export const NextTasksResponse = z.object({
  items: z.array(ClaimedTask),
  cancel_task_ids: z.array(Id),
});
export type NextTasksResponse = z.infer<typeof NextTasksResponse>;

/** The tasks a runner holds now (assigned or running), for its page in the dashboard. */
export const RunnerTasks = z.object({ items: z.array(Task) });
export type RunnerTasks = z.infer<typeof RunnerTasks>;
