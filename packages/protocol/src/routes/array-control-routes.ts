import { route } from '../route-definition.ts';
import {
  CancelElementsRequest,
  ElementParams,
  ElementsChanged,
  JobElements,
  RetryElementsRequest,
  UpdateJobRequest,
} from '../schemas/array-control.ts';
import { Job } from '../schemas/jobs.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

const JobParams = idParams('job');

/** A running job's limit, and its elements one by one or a selection at a time. */
export const arrayControlRoutes = {
  updateJob: route({
    method: 'PATCH',
    path: `${API_PREFIX}/jobs/:id`,
    access: 'submitter',
    tag: 'jobs',
    summary:
      'Change a job: max_parallel while it runs (null lifts it, from the next claim on); pinned, retention and keep_last at any time',
    params: JobParams,
    body: UpdateJobRequest,
    responses: { 200: Job },
    errors: [409],
    audit: 'job.update',
  }),
  listJobElements: route({
    method: 'GET',
    path: `${API_PREFIX}/jobs/:id/elements`,
    access: 'viewer',
    tag: 'jobs',
    summary: "Every element's latest attempt, compactly (status, attempt, task, runner, exit code), by index",
    params: JobParams,
    responses: { 200: JobElements },
  }),
  retryElement: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/elements/:index/retry`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'A new attempt for one element whose latest attempt ended without succeeding (also while the job runs)',
    params: ElementParams,
    responses: { 200: ElementsChanged },
    errors: [409],
    audit: 'element.retry',
  }),
  cancelElement: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/elements/:index/cancel`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Cancel one element: a pending attempt at once, a running one told to stop',
    params: ElementParams,
    responses: { 200: ElementsChanged },
    errors: [409],
    audit: 'element.cancel',
  }),
  retryElements: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/elements/retry`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Retry a selection of elements ({"indexes": […]} or {"status": ["failed", …]}) in one statement',
    params: JobParams,
    body: RetryElementsRequest,
    responses: { 200: ElementsChanged },
    errors: [409],
    audit: 'element.retry',
  }),
  cancelElements: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/elements/cancel`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Cancel a selection of elements ({"indexes": […]} or {"status": ["pending", …]}) in one statement',
    params: JobParams,
    body: CancelElementsRequest,
    responses: { 200: ElementsChanged },
    errors: [409],
    audit: 'element.cancel',
  }),
} as const;
