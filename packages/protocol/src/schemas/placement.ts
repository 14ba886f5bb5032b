import { z } from 'zod';

import { MAX_CONSTRAINTS, parseConstraint } from '../constraints.ts';
import { Id, Timestamp } from './common.ts';

/**
 * What each task of a job needs of the runner that takes it. All optional; a task that asks for
 * nothing takes a slot and nothing else. `gpu_memory_mb` is the free memory each assigned GPU must
 * have (as the runner last measured it).
 */
export const ResourceRequest = z
  .strictObject({
    cpu: z.number().positive().max(4096).multipleOf(0.001).optional(),
    memory_mb: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .optional(),
    gpus: z.number().int().min(0).max(64).optional(),
    gpu_memory_mb: z
      .number()
      .int()
      .min(1)
      .max(16 * 1024 * 1024)
      .optional(),
  })
  .refine((r) => r.gpu_memory_mb === undefined || (r.gpus ?? 0) > 0, {
    message: 'gpu_memory_mb is the memory each assigned GPU must have: ask for gpus too',
    path: ['gpu_memory_mb'],
  });
export type ResourceRequest = z.infer<typeof ResourceRequest>;

/** Constraint expressions (see constraints.ts); each is parsed at submit and refused with its reason. */
export const Constraints = z
  .array(z.string().max(600))
  .max(MAX_CONSTRAINTS)
  .superRefine((list, ctx) => {
    list.forEach((text, i) => {
      const parsed = parseConstraint(text);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', path: [i], message: parsed.error });
    });
  });

/**
 * What a job does when no runner the mothership knows could ever take it: `reject` answers 422
 * UNSATISFIABLE with each runner's reasons; `queue` accepts it and marks it.
 */
export const UnsatisfiablePolicy = z.enum(['reject', 'queue']);
export type UnsatisfiablePolicy = z.infer<typeof UnsatisfiablePolicy>;

/** One GPU of a runner, as the solder detected it (or as `--gpus` selected). */
export const GpuDevice = z.strictObject({
  /** nvidia-smi's index, what CUDA_VISIBLE_DEVICES names. */
  index: z.number().int().min(0).max(1023),
  uuid: z.string().max(128).default(''),
  model: z.string().max(200).default(''),
  /** Total memory, and the free memory when it was detected (null: the driver does not say). */
  memory_mb: z.number().int().min(0).nullable().default(null),
  memory_free_mb: z.number().int().min(0).nullable().default(null),
});
export type GpuDevice = z.infer<typeof GpuDevice>;

/**
 * What a runner offers to tasks that ask for resources: detected, overridable by the solder's
 * flags (`--cpu`, `--memory`, `--gpus`, `--reserve-memory`). A runner that sends none takes only
 * tasks that ask for nothing.
 */
export const RunnerCapacity = z.strictObject({
  cpu: z.number().min(0).max(65_536),
  memory_mb: z
    .number()
    .int()
    .min(0)
    .max(1024 * 1024 * 1024),
  gpus: z.array(GpuDevice).max(64).default([]),
});
export type RunnerCapacity = z.input<typeof RunnerCapacity>;

/** A GPU's state, sampled by the solder while a task holds it and sent with its heartbeats. */
export const GpuSample = z.strictObject({
  index: z.number().int().min(0).max(1023),
  utilization_pct: z.number().min(0).max(100).nullable(),
  memory_used_mb: z.number().min(0).nullable(),
  memory_free_mb: z.number().min(0).nullable(),
  /** When the solder took it; absent: when the heartbeat arrived. */
  at: Timestamp.optional(),
});
export type GpuSample = z.infer<typeof GpuSample>;

/** A device assigned to one attempt, for the attempt alone until it ends. */
export const AssignedGpu = z.object({ index: z.number().int(), uuid: z.string() });
export type AssignedGpu = z.infer<typeof AssignedGpu>;

/** A runner's GPU as its page shows it: the device, its last sample, and the task holding it. */
export const RunnerGpu = GpuDevice.extend({
  utilization_pct: z.number().nullable(),
  memory_used_mb: z.number().nullable(),
  memory_free_mb: z.number().nullable(),
  sampled_at: Timestamp.nullable(),
  task_id: Id.nullable(),
});
export type RunnerGpu = z.infer<typeof RunnerGpu>;

/** Why one runner cannot take a task now (or ever, for submit's verdict). */
export const RunnerVerdict = z.object({
  runner_id: Id,
  runner_name: z.string(),
  eligible: z.boolean(),
  /** Human-readable, one per thing missing: `label os: wants linux, has darwin`, `slots full`, … */
  reasons: z.array(z.string()),
});
export type RunnerVerdict = z.infer<typeof RunnerVerdict>;

/** `GET /tasks/:id/placement`: why a pending task is waiting, computed on request. */
export const TaskPlacement = z.object({
  task_id: Id,
  status: z.string(),
  /** 1-based place among the pending tasks that compete for the same runners; null when not pending. */
  position: z.number().int().nullable(),
  /** Estimated seconds until it starts, from recent history; null when there is none to go on. */
  estimated_wait_seconds: z.number().nullable(),
  /** Reasons that hold the task whatever the runners: `job paused`, `backoff until …`. */
  job_reasons: z.array(z.string()),
  runners: z.array(RunnerVerdict),
  /** More runners than the answer lists (it is capped); they are counted, not listed. */
  runners_not_listed: z.number().int(),
  /** A short reason for lists: the job-level one, or the commonest runner reason. */
  summary: z.string().nullable(),
});
export type TaskPlacement = z.infer<typeof TaskPlacement>;

/** A 422 UNSATISFIABLE names the nearest runners and what each lacks. */
export const UnsatisfiableDetails = z.object({ runners: z.array(RunnerVerdict) });
export type UnsatisfiableDetails = z.infer<typeof UnsatisfiableDetails>;

/** `GET /tasks/:id/gpus`: each GPU the attempt held, with its samples (averaged into at most 240 points). */
export const TaskGpuSamples = z.object({
  items: z.array(
    z.object({
      index: z.number().int(),
      samples: z.array(
        z.object({ at: Timestamp, utilization_pct: z.number().nullable(), memory_used_mb: z.number().nullable() }),
      ),
    }),
  ),
});
export type TaskGpuSamples = z.infer<typeof TaskGpuSamples>;
