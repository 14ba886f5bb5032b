import { z } from 'zod';

import type { QueryInput } from '../route-definition.ts';
import { Env, Id, Labels, page, RelativePath, Timestamp } from './common.ts';
import { DependsOn, InputsFrom, JobDependency, JobInput, MAX_DEPENDENCIES } from './dependencies.ts';
import { LogLimit, LogOverflow } from './log-limit.ts';
import { AssignedGpu, Constraints, ResourceRequest, UnsatisfiablePolicy } from './placement.ts';
import { KeepLast, Retention } from './retention.ts';
import { JobOnDisconnect, JobRetry, MAX_ATTEMPTS, OnDisconnect, RetryDecision, RetryRules } from './retry.ts';
import { JobSecrets } from './secrets.ts';

export const JOB_TYPES = ['shell', 'binary', 'container'] as const;
export const JobType = z.enum(JOB_TYPES);
export type JobType = z.infer<typeof JobType>;

/** `blocked`: waiting for the jobs it depends on; `skipped`: ended because a dependency cannot be met. */
export const JOB_STATUSES = [
  'blocked',
  'queued',
  'running',
  'paused',
  'succeeded',
  'failed',
  'cancelled',
  'skipped',
] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;

/** `blocked` attempts wait for their job's dependencies; `skipped` ones never ran because one was not met. */
export const TASK_STATUSES = [
  'blocked',
  'pending',
  'assigned',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'lost',
  'skipped',
] as const;
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const MAX_ARRAY_SIZE = 10_000;
export const MAX_TIMEOUT_SECONDS = 30 * 24 * 3600;

/** A job's limit on elements held at once: 1 to MAX_ARRAY_SIZE. */
export const MaxParallel = z.number().int().min(1).max(MAX_ARRAY_SIZE);

export const JobFile = z.strictObject({ file_id: Id, path: RelativePath });
export type JobFile = z.infer<typeof JobFile>;

const ShellCommand = z.string().min(1).max(65_536);
/**
 * An image reference (`registry:5000/team/name:tag@sha256:…`). It starts with a letter or digit,
 * so the container CLI can never read it as a flag (`--privileged`), and holds no space, quote
 * or shell character; the solder checks the same again before it runs anything.
 */
export const IMAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/;
const Argv = z.array(z.string().max(65_536)).min(1).max(4096);
/** A container job's user: a numeric uid or uid:gid (the solder gives the workspace to it first). */
export const CONTAINER_USER_PATTERN = /^\d{1,10}(:\d{1,10})?$/;

export const CreateJobRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    // The seed called container jobs "docker"; it is accepted and stored as "container".
    type: z.enum([...JOB_TYPES, 'docker']).default('shell'),
    command: z.union([ShellCommand, Argv]),
    image: z
      .string()
      .min(1)
      .max(512)
      .regex(IMAGE_PATTERN, 'an image is a reference such as "alpine:3.20" (no leading "-", spaces or quotes)')
      .optional(),
    /** Container jobs: run the container as this uid or uid:gid (`--user`); default the image's user. */
    user: z.string().regex(CONTAINER_USER_PATTERN, 'a container user is a numeric uid or uid:gid').optional(),
    env: Env.optional(),
    /** Environment variables the task gets from secrets: `{"API_TOKEN": "deploy-token"}`. */
    secrets: JobSecrets.optional(),
    labels: Labels.optional(),
    /** What each task needs of its runner: `{"cpu": 2, "memory_mb": 8192, "gpus": 1, "gpu_memory_mb": 40000}`. */
    resources: ResourceRequest.optional(),
    /** Expressions over the runner's labels and automatic attributes: `["gpu_model in (A100, H100)"]`. */
    constraints: Constraints.optional(),
    /**
     * When no runner the mothership knows could ever take the job: `reject` (422 UNSATISFIABLE with
     * the reasons) or `queue` (accepted and marked). Absent: `queue`, so clients written before
     * placement keep their behaviour; the CLI and the dashboard ask for `reject`.
     */
    unsatisfiable: UnsatisfiablePolicy.optional(),
    priority: z.number().int().min(-1000).max(1000).default(0),
    /** Attempts per element, retried on any failure (default 1); `retry` says more, and replaces it. */
    max_attempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional(),
    /** Retry rules: which failures retry, whether lost attempts count, backoff (retry.ts). */
    retry: RetryRules.optional(),
    /** What a task does when its solder cannot reach the mothership (retry.ts). */
    on_disconnect: OnDisconnect.optional(),
    /** The most log a task keeps ("256MiB"); past it the middle is dropped. Absent: the server's BORG_TASK_LOG_LIMIT. */
    log_limit: LogLimit.optional(),
    /** Past the log limit: `truncate` (keep head and tail; the default) or `fail` the task. */
    log_overflow: LogOverflow.optional(),
    timeout_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).nullable().optional(),
    array_size: z.number().int().min(1).max(MAX_ARRAY_SIZE).default(1),
    /** At most this many elements held (assigned or running) at once, across all runners; null: no limit. */
    max_parallel: MaxParallel.nullable().optional(),
    files: z.array(JobFile).max(1000).default([]),
    artifacts: z.array(z.string().min(1).max(1024)).max(100).default([]),
    /** Jobs that must end first (`blocked` until then): `[{"job_id": "…", "condition": "succeeded"}]`. */
    depends_on: z.array(DependsOn).max(MAX_DEPENDENCIES).default([]),
    /** Artifacts of upstream jobs placed in the workspace; each upstream is also a dependency. */
    inputs_from: z.array(InputsFrom).max(100).default([]),
    /** How long the job is kept once it ends ("30d"); absent: the server's BORG_RETENTION_JOBS. */
    retention: Retention.optional(),
    /** Kept until unpinned, whatever the retention. */
    pinned: z.boolean().optional(),
    /** The newest this many jobs of this name are kept whatever their age. */
    keep_last: KeepLast.optional(),
  })
  .superRefine((job, ctx) => {
    const type = job.type === 'docker' ? 'container' : job.type;
    if (type === 'binary' && typeof job.command === 'string') {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'a binary job takes an argv array, not a string' });
    }
    if (type === 'container' && !job.image) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'a container job needs an image' });
    }
    if (type !== 'container' && job.image) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'only container jobs take an image' });
    }
    if (type !== 'container' && job.user !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['user'], message: 'only container jobs take a user' });
    }
    for (const name of Object.keys(job.secrets ?? {})) {
      if (job.env && name in job.env) {
        ctx.addIssue({
          code: 'custom',
          path: ['secrets', name],
          message: `${name} is also in env: give it one source`,
        });
      }
    }
    const paths = new Set<string>();
    job.files.forEach((file, i) => {
      if (paths.has(file.path)) {
        ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: 'two files share this path' });
      }
      paths.add(file.path);
    });
    const upstreams = new Set<string>();
    job.depends_on.forEach((dependency, i) => {
      const key = dependency.job_id ?? `name:${dependency.name}`;
      if (upstreams.has(key)) {
        ctx.addIssue({ code: 'custom', path: ['depends_on', i], message: 'this job is already a dependency' });
      }
      upstreams.add(key);
    });
  })
  // `max_attempts` and `retry.max_attempts` say one thing: both may be given only when they agree.
  .superRefine((job, ctx) => {
    const inRetry = job.retry?.max_attempts;
    if (inRetry !== undefined && job.max_attempts !== undefined && inRetry !== job.max_attempts) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'max_attempts'],
        message: `max_attempts is ${job.max_attempts} and retry.max_attempts ${inRetry}: give one of them, or the same number`,
      });
    }
  })
  .transform((job) => ({ ...job, max_attempts: job.retry?.max_attempts ?? job.max_attempts ?? 1 }));
export type CreateJobRequest = z.input<typeof CreateJobRequest>;
/** A create-job request after validation, defaults applied. */
export type ValidCreateJobRequest = z.output<typeof CreateJobRequest>;

export const Task = z.object({
  id: Id,
  job_id: Id,
  index: z.number().int(),
  attempt: z.number().int(),
  status: TaskStatus,
  runner_id: Id.nullable(),
  exit_code: z.number().int().nullable(),
  /** Why the attempt ended when that is not plain success or failure: runner_lost, timed_out, cancelled… */
  reason: z.string().nullable(),
  error: z.string().nullable(),
  cancel_requested: z.boolean(),
  /** The GPUs this attempt holds (or held), by index and UUID; empty when it asked for none. */
  gpus: z.array(AssignedGpu).default([]),
  /** The signal that killed the task's process (exit_code is then null), e.g. "SIGKILL". */
  signal: z.string().nullable().default(null),
  /** Why this attempt, which did not succeed, was retried or not (the job's retry rules); null otherwise. */
  retry_decision: RetryDecision.nullable().default(null),
  created_at: Timestamp,
  available_at: Timestamp,
  assigned_at: Timestamp.nullable(),
  started_at: Timestamp.nullable(),
  completed_at: Timestamp.nullable(),
});
export type Task = z.infer<typeof Task>;

/** How many runners a job's outcome names; the rest are only counted. */
export const OUTCOME_RUNNER_LIMIT = 3;

/** A runner that ran a job's latest attempts. A deleted runner keeps its name and says it is gone. */
export const OutcomeRunner = z.object({ id: Id, name: z.string(), deleted: z.boolean() });
export type OutcomeRunner = z.infer<typeof OutcomeRunner>;

/** The first failing element of a failed job (lowest index), from its latest attempt. */
export const JobFailure = z.object({
  index: z.number().int(),
  attempt: z.number().int(),
  status: TaskStatus,
  exit_code: z.number().int().nullable(),
  reason: z.string().nullable(),
  error: z.string().nullable(),
});
export type JobFailure = z.infer<typeof JobFailure>;

/**
 * Who ran a job and how it failed, for lists: the runners of its elements' latest attempts (the
 * first OUTCOME_RUNNER_LIMIT by element index, and how many distinct runners there were in all;
 * counted over the first 256 elements, so a lower bound for a larger array), and, for a failed
 * job only, its first failing element.
 */
export const JobOutcome = z.object({
  runners: z.array(OutcomeRunner).max(OUTCOME_RUNNER_LIMIT),
  runner_count: z.number().int(),
  failure: JobFailure.nullable(),
});
export type JobOutcome = z.infer<typeof JobOutcome>;

export const Job = z.object({
  id: Id,
  name: z.string(),
  type: JobType,
  status: JobStatus,
  command: z.union([z.string(), z.array(z.string())]),
  image: z.string().nullable(),
  /** A container job's user (uid or uid:gid), or null for the image's own. */
  user: z.string().nullable().optional(),
  env: z.record(z.string(), z.string()),
  /** Environment variable → secret name; the values reach only the runner running a task. */
  secrets: z.record(z.string(), z.string()),
  labels: z.record(z.string(), z.string()),
  /** What each task asks of its runner ({} when nothing). */
  resources: ResourceRequest.default({}),
  constraints: z.array(z.string()).default([]),
  /** True when, at submit, no known runner could take it and the job asked to be queued anyway. */
  unsatisfiable: z.boolean().default(false),
  priority: z.number().int(),
  max_attempts: z.number().int(),
  /** The job's retry rules, defaults filled in; null for a job that gave only max_attempts. */
  retry: JobRetry.nullable().default(null),
  /** What its tasks do when their solder cannot reach the mothership; null: the default (stop after the offline window). */
  on_disconnect: JobOnDisconnect.nullable().default(null),
  /** Each task's log limit in bytes, as the job asked; null: the server's default. */
  log_limit: z.number().int().nullable().optional(),
  /** Past the limit: null or `truncate` (keep head and tail), `fail`. */
  log_overflow: LogOverflow.nullable().optional(),
  timeout_seconds: z.number().int().nullable(),
  array_size: z.number().int(),
  /** How many elements may be held at once (PATCH changes it while the job runs); null: no limit. */
  max_parallel: z.number().int().nullable().default(null),
  files: z.array(JobFile),
  artifacts: z.array(z.string()),
  /** The jobs this one waits for, each with its condition and whether it is met yet. */
  depends_on: z.array(JobDependency).default([]),
  inputs_from: z.array(JobInput).default([]),
  /** Why a `skipped` job did not run (the upstream job and what it ended as). */
  skip_reason: z.string().nullable().default(null),
  /** The pipeline request that created the job, if one did. */
  pipeline_id: Id.nullable().default(null),
  /** How long it is kept once it ends ("30d"); null: the server's BORG_RETENTION_JOBS. */
  retention: z.string().nullable().default(null),
  /** Kept until unpinned, whatever the retention. */
  pinned: z.boolean().default(false),
  /** The newest this many jobs of its name are kept whatever their age; null: no such rule. */
  keep_last: z.number().int().nullable().default(null),
  /** The schedule that submitted this job, and the cron slot (or manual trigger time) it was for. */
  schedule_id: Id.nullable().default(null),
  scheduled_for: Timestamp.nullable().default(null),
  paused: z.boolean(),
  /** The token that submitted the job and its name then; null for jobs older than attribution. */
  created_by: z.object({ token_id: Id.nullable(), name: z.string() }).nullable(),
  /** Who ran it and, when it failed, how; empty from a mothership older than this field. */
  outcome: JobOutcome.default({ runners: [], runner_count: 0, failure: null }),
  created_at: Timestamp,
  updated_at: Timestamp,
  started_at: Timestamp.nullable(),
  completed_at: Timestamp.nullable(),
});
export type Job = z.infer<typeof Job>;

export const JobWithTasks = Job.extend({ tasks: z.array(Task) });
export type JobWithTasks = z.infer<typeof JobWithTasks>;

export const JobPage = page(Job);
export type JobPage = z.infer<typeof JobPage>;

export const ListJobsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
  /** One status, a comma-separated list, or the parameter repeated. */
  status: z
    .union([z.string().max(200), z.array(z.string().max(20)).max(JOB_STATUSES.length)])
    .transform((value) => (typeof value === 'string' ? value.split(',') : value))
    .pipe(z.array(JobStatus).min(1))
    .optional(),
  /** Jobs whose name starts with this text. */
  name: z.string().min(1).max(200).optional(),
  /** `key=value`: jobs that carry this label. */
  label: z
    .string()
    .max(320)
    .regex(/^[^=]+=.*$/, 'label filters are key=value')
    .optional(),
  /** Jobs whose name contains this text, ignoring case. */
  q: z.string().min(1).max(200).optional(),
  /** Jobs created at or after this time (ISO-8601). */
  created_after: z.iso.datetime({ offset: true }).optional(),
  /** Jobs created before this time (ISO-8601). */
  created_before: z.iso.datetime({ offset: true }).optional(),
});
/** Filters as a client passes them: `status` may be a list or comma-separated text. */
export type ListJobsQuery = QueryInput<typeof ListJobsQuery>;
