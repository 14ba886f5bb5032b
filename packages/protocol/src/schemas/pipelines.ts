import { z } from 'zod';

import { Id, Timestamp } from './common.ts';
import { MAX_PIPELINE_JOBS } from './dependencies.ts';
import { CreateJobRequest, Job } from './jobs.ts';

/**
 * Jobs submitted together, created all or none. Inside it a job's `name` is its local name,
 * unique in the request, and `depends_on` / `inputs_from` may name another job of the request
 * (`{"name": "train"}`) instead of an existing job's id.
 */
export const CreatePipelineRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    jobs: z.array(CreateJobRequest).min(1).max(MAX_PIPELINE_JOBS),
  })
  .superRefine((pipeline, ctx) => {
    const names = new Set<string>();
    pipeline.jobs.forEach((job, i) => {
      if (names.has(job.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['jobs', i, 'name'],
          message: 'two jobs of the pipeline share this name',
        });
      }
      names.add(job.name);
    });
  });
export type CreatePipelineRequest = z.input<typeof CreatePipelineRequest>;
export type ValidCreatePipelineRequest = z.output<typeof CreatePipelineRequest>;

export const Pipeline = z.object({
  id: Id,
  name: z.string().nullable(),
  created_at: Timestamp,
  /** Its jobs, in the order of the request. */
  jobs: z.array(Job),
});
export type Pipeline = z.infer<typeof Pipeline>;
