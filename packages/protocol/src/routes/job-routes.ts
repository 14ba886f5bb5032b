import { route } from '../route-definition.ts';
import { ArtifactList } from '../schemas/files.ts';
import { CreateJobRequest, Job, JobPage, JobWithTasks, ListJobsQuery, Task } from '../schemas/jobs.ts';
import { LogPage, LogsQuery } from '../schemas/logs.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

const JobParams = idParams('job');
const TaskParams = idParams('task');

/** Jobs and their tasks, as people see and change them. */
export const jobRoutes = {
  createJob: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Submit a job (one task per array element)',
    body: CreateJobRequest,
    responses: { 200: Job, 201: Job },
    errors: [404, 409],
    audit: 'job.submit',
  }),
  listJobs: route({
    method: 'GET',
    path: `${API_PREFIX}/jobs`,
    access: 'viewer',
    tag: 'jobs',
    summary: 'List jobs, newest first, with filters and cursor paging',
    query: ListJobsQuery,
    responses: { 200: JobPage },
  }),
  getJob: route({
    method: 'GET',
    path: `${API_PREFIX}/jobs/:id`,
    access: 'viewer',
    tag: 'jobs',
    summary: 'A job with every attempt of every task',
    params: JobParams,
    responses: { 200: JobWithTasks },
  }),
  pauseJob: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/pause`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Pause: start no new tasks (running ones finish)',
    params: JobParams,
    responses: { 200: Job },
    errors: [409],
    audit: 'job.pause',
  }),
  resumeJob: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/resume`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Resume a paused job',
    params: JobParams,
    responses: { 200: Job },
    errors: [409],
    audit: 'job.resume',
  }),
  cancelJob: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/cancel`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Cancel: pending tasks at once, running ones told to stop',
    params: JobParams,
    responses: { 200: Job },
    errors: [409],
    audit: 'job.cancel',
  }),
  retryJob: route({
    method: 'POST',
    path: `${API_PREFIX}/jobs/:id/retry`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Retry every element whose latest attempt did not succeed',
    params: JobParams,
    responses: { 200: Job },
    errors: [409],
    audit: 'job.retry',
  }),
  getTask: route({
    method: 'GET',
    path: `${API_PREFIX}/tasks/:id`,
    access: 'viewer',
    tag: 'tasks',
    summary: 'One task (attempt)',
    params: TaskParams,
    responses: { 200: Task },
  }),
  getTaskLogs: route({
    method: 'GET',
    path: `${API_PREFIX}/tasks/:id/logs`,
    access: 'viewer',
    tag: 'tasks',
    summary: "Read a task's log lines in order, paged by line index",
    params: TaskParams,
    query: LogsQuery,
    responses: { 200: LogPage },
  }),
  listArtifacts: route({
    method: 'GET',
    path: `${API_PREFIX}/tasks/:id/artifacts`,
    access: 'viewer',
    tag: 'tasks',
    summary: 'Artifacts a task uploaded (download them through /files/:file_id/download)',
    params: TaskParams,
    responses: { 200: ArtifactList },
  }),
} as const;
