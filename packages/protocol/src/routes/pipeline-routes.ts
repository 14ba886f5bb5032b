import { route } from '../route-definition.ts';
import { JobGraph } from '../schemas/dependencies.ts';
import { CreatePipelineRequest, Pipeline } from '../schemas/pipelines.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

/** Jobs that depend on each other: pipelines submitted as one request, and the graph of a job. */
export const pipelineRoutes = {
  createPipeline: route({
    method: 'POST',
    path: `${API_PREFIX}/pipelines`,
    access: 'submitter',
    tag: 'pipelines',
    summary: 'Submit jobs that refer to each other by name, all or none (a cycle or an unknown name is a 400)',
    body: CreatePipelineRequest,
    responses: { 201: Pipeline },
    errors: [404, 422],
    audit: 'pipeline.submit',
  }),
  getPipeline: route({
    method: 'GET',
    path: `${API_PREFIX}/pipelines/:id`,
    access: 'viewer',
    tag: 'pipelines',
    summary: 'A pipeline with its jobs, in the order they were submitted',
    params: idParams('pipeline'),
    responses: { 200: Pipeline },
  }),
  getJobGraph: route({
    method: 'GET',
    path: `${API_PREFIX}/jobs/:id/graph`,
    access: 'viewer',
    tag: 'jobs',
    summary: 'The jobs upstream and downstream of a job, with the dependencies between them',
    params: idParams('job'),
    responses: { 200: JobGraph },
  }),
} as const;
