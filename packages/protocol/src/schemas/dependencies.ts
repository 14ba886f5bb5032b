import { z } from 'zod';

import { Id, RelativePath } from './common.ts';

/**
 * When a dependency is met: the upstream job `succeeded` (the default), `failed`, or `finished`
 * in any way (succeeded, failed, cancelled or skipped).
 */
export const DEPENDENCY_CONDITIONS = ['succeeded', 'failed', 'finished'] as const;
export const DependencyCondition = z.enum(DEPENDENCY_CONDITIONS);
export type DependencyCondition = z.infer<typeof DependencyCondition>;

/** `waiting` until the upstream job ends; then `met`, or `unmet` (which skips the job). */
export const DEPENDENCY_STATES = ['waiting', 'met', 'unmet'] as const;
export const DependencyState = z.enum(DEPENDENCY_STATES);
export type DependencyState = z.infer<typeof DependencyState>;

export const MAX_DEPENDENCIES = 1000;
/** How many jobs one pipeline request may create. */
export const MAX_PIPELINE_JOBS = 2000;

/**
 * An upstream job, by id, or inside a pipeline request by the local name of another job of
 * the same request.
 */
const UpstreamRef = {
  job_id: Id.optional(),
  name: z.string().trim().min(1).max(200).optional(),
};

function oneUpstream(ref: { job_id?: string | undefined; name?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((ref.job_id === undefined) === (ref.name === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'name the upstream job by job_id, or by name inside a pipeline' });
  }
}

export const DependsOn = z
  .strictObject({ ...UpstreamRef, condition: DependencyCondition.default('succeeded') })
  .superRefine(oneUpstream);
export type DependsOn = z.input<typeof DependsOn>;

/** Artifacts of an upstream job, placed under `path` in the workspace before the task starts. */
export const InputsFrom = z
  .strictObject({
    ...UpstreamRef,
    /** A glob over the upstream's artifact paths (`out/**`, `model.pt`). */
    artifacts: z.string().min(1).max(1024).default('**'),
    /** Where they land in the workspace (a relative directory); default its root. */
    path: RelativePath.optional(),
    /**
     * `same`: element i takes the artifacts of the upstream's element i (both arrays of one
     * size); `all` (default): every task takes the artifacts of every upstream element.
     */
    element: z.enum(['all', 'same']).default('all'),
  })
  .superRefine(oneUpstream);
export type InputsFrom = z.input<typeof InputsFrom>;

/** A dependency as a job shows it, with its upstream's name and whether it is met yet. */
export const JobDependency = z.object({
  job_id: Id,
  name: z.string(),
  condition: DependencyCondition,
  state: DependencyState,
});
export type JobDependency = z.infer<typeof JobDependency>;

export const JobInput = z.object({
  job_id: Id,
  artifacts: z.string(),
  path: z.string().nullable(),
  element: z.enum(['all', 'same']),
});
export type JobInput = z.infer<typeof JobInput>;

/** A job in a dependency graph, with what a drawing needs. */
export const GraphNode = z.object({ id: Id, name: z.string(), status: z.string(), array_size: z.number().int() });
export type GraphNode = z.infer<typeof GraphNode>;

/** `from` must end (as `condition` says) before `to` may start. */
export const GraphEdge = z.object({ from: Id, to: Id, condition: DependencyCondition, state: DependencyState });
export type GraphEdge = z.infer<typeof GraphEdge>;

/**
 * The jobs a job is connected to through dependencies, both ways, to a bound; `truncated`
 * says the bound cut it.
 */
export const JobGraph = z.object({
  nodes: z.array(GraphNode),
  edges: z.array(GraphEdge),
  truncated: z.boolean(),
});
export type JobGraph = z.infer<typeof JobGraph>;

export const CancelJobQuery = z.strictObject({
  /** Also cancel every job downstream of this one that has not ended. */
  cascade: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});
