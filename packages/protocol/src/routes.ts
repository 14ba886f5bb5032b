import { z } from 'zod';

import { RAW_RESPONSE, route } from './route-definition.ts';
import { AuditPage, ListAuditQuery } from './schemas/audit.ts';
import { OkResponse, Readiness } from './schemas/common.ts';
import { Artifact, ArtifactList, FileInfo } from './schemas/files.ts';
import { CreateJobRequest, Job, JobPage, JobWithTasks, ListJobsQuery, Task } from './schemas/jobs.ts';
import { AppendLogsRequest, AppendLogsResponse, LogPage, LogsQuery } from './schemas/logs.ts';
import {
  HeartbeatRequest,
  HeartbeatResponse,
  ListRunnersQuery,
  NextTasksQuery,
  NextTasksResponse,
  RegisterRunnerRequest,
  RegisterRunnerResponse,
  Runner,
  RunnerPage,
  RunnerTasks,
} from './schemas/runners.ts';
import { Stats, StatsTimeseries, TimeseriesQuery } from './schemas/stats.ts';
import { TaskStatusRequest, TaskStatusResponse } from './schemas/tasks.ts';
import { CreatedToken, CreateTokenRequest, Identity, TokenInfo, TokenList } from './schemas/tokens.ts';

const idOf = (what: string) => z.strictObject({ id: z.guid(`id must be a ${what} id`) });
const JobParams = idOf('job');
const RunnerParams = idOf('runner');
const TaskParams = idOf('task');
const FileParams = idOf('file');
const TokenParams = idOf('token');

const API = '/api/v1';

/**
 * Every operation of the HTTP API, once. The mothership registers its routes from this table
 * (binding a handler to each name), `BorgClient` gets one method per entry under the same name,
 * and the OpenAPI document at `/api/docs` is generated from it. Adding an endpoint is one entry
 * here and one handler in the mothership.
 */
export const routes = {
  // --- health ------------------------------------------------------------------------------------
  health: route({
    method: 'GET',
    path: '/healthz',
    access: 'public',
    tag: 'health',
    summary: 'The process is up',
    responses: { 200: OkResponse },
  }),
  readiness: route({
    method: 'GET',
    path: '/readyz',
    access: 'public',
    tag: 'health',
    summary: 'The database answers and its schema is current',
    responses: { 200: Readiness, 503: Readiness },
  }),
  metrics: route({
    method: 'GET',
    path: '/metrics',
    access: 'viewer',
    tag: 'health',
    summary: 'Prometheus metrics (text exposition format); a user token unless BORG_METRICS_PUBLIC=true',
    responses: { 200: RAW_RESPONSE },
  }),

  // --- stats -------------------------------------------------------------------------------------
  stats: route({
    method: 'GET',
    path: `${API}/stats`,
    access: 'viewer',
    tag: 'stats',
    summary: 'Counts for the overview page',
    responses: { 200: Stats },
  }),
  statsTimeseries: route({
    method: 'GET',
    path: `${API}/stats/timeseries`,
    access: 'viewer',
    tag: 'stats',
    summary: 'Tasks finished, queue depth, queue wait (p50/p95) and runner utilisation over a window',
    query: TimeseriesQuery,
    responses: { 200: StatsTimeseries },
  }),

  // --- jobs --------------------------------------------------------------------------------------
  createJob: route({
    method: 'POST',
    path: `${API}/jobs`,
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
    path: `${API}/jobs`,
    access: 'viewer',
    tag: 'jobs',
    summary: 'List jobs, newest first, with filters and cursor paging',
    query: ListJobsQuery,
    responses: { 200: JobPage },
  }),
  getJob: route({
    method: 'GET',
    path: `${API}/jobs/:id`,
    access: 'viewer',
    tag: 'jobs',
    summary: 'A job with every attempt of every task',
    params: JobParams,
    responses: { 200: JobWithTasks },
  }),
  pauseJob: route({
    method: 'POST',
    path: `${API}/jobs/:id/pause`,
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
    path: `${API}/jobs/:id/resume`,
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
    path: `${API}/jobs/:id/cancel`,
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
    path: `${API}/jobs/:id/retry`,
    access: 'submitter',
    tag: 'jobs',
    summary: 'Retry every element whose latest attempt did not succeed',
    params: JobParams,
    responses: { 200: Job },
    errors: [409],
    audit: 'job.retry',
  }),

  // --- tasks -------------------------------------------------------------------------------------
  getTask: route({
    method: 'GET',
    path: `${API}/tasks/:id`,
    access: 'viewer',
    tag: 'tasks',
    summary: 'One task (attempt)',
    params: TaskParams,
    responses: { 200: Task },
  }),
  getTaskLogs: route({
    method: 'GET',
    path: `${API}/tasks/:id/logs`,
    access: 'viewer',
    tag: 'tasks',
    summary: "Read a task's log lines in order, paged by line index",
    params: TaskParams,
    query: LogsQuery,
    responses: { 200: LogPage },
  }),
  listArtifacts: route({
    method: 'GET',
    path: `${API}/tasks/:id/artifacts`,
    access: 'viewer',
    tag: 'tasks',
    summary: 'Artifacts a task uploaded (download them through /files/:file_id/download)',
    params: TaskParams,
    responses: { 200: ArtifactList },
  }),

  // --- runners, for people -----------------------------------------------------------------------
  listRunners: route({
    method: 'GET',
    path: `${API}/runners`,
    access: 'viewer',
    tag: 'runners',
    summary: 'List runners, newest first',
    query: ListRunnersQuery,
    responses: { 200: RunnerPage },
  }),
  getRunner: route({
    method: 'GET',
    path: `${API}/runners/:id`,
    access: 'viewer',
    tag: 'runners',
    summary: 'One runner',
    params: RunnerParams,
    responses: { 200: Runner },
  }),
  runnerTasks: route({
    method: 'GET',
    path: `${API}/runners/:id/tasks`,
    access: 'viewer',
    tag: 'runners',
    summary: 'The tasks a runner holds now (assigned or running)',
    params: RunnerParams,
    responses: { 200: RunnerTasks },
  }),
  drainRunner: route({
    method: 'POST',
    path: `${API}/runners/:id/drain`,
    access: 'operator',
    tag: 'runners',
    summary: 'Drain: the runner finishes its tasks and takes no new ones',
    params: RunnerParams,
    responses: { 200: Runner },
    audit: 'runner.drain',
  }),
  resumeRunner: route({
    method: 'POST',
    path: `${API}/runners/:id/resume`,
    access: 'operator',
    tag: 'runners',
    summary: 'Undo a drain',
    params: RunnerParams,
    responses: { 200: Runner },
    audit: 'runner.resume',
  }),

  // --- files -------------------------------------------------------------------------------------
  uploadFile: route({
    method: 'POST',
    path: `${API}/files`,
    access: 'submitter',
    tag: 'files',
    summary: 'Upload a file (multipart field `file`), streamed and hashed',
    bodyKind: 'multipart',
    responses: { 201: FileInfo },
    errors: [413, 507],
    audit: 'file.upload',
  }),
  getFile: route({
    method: 'GET',
    path: `${API}/files/:id`,
    access: 'viewer',
    tag: 'files',
    summary: "A file's metadata",
    params: FileParams,
    responses: { 200: FileInfo },
  }),
  downloadFile: route({
    method: 'GET',
    path: `${API}/files/:id/download`,
    access: 'viewer-or-runner',
    tag: 'files',
    summary: "A file's bytes, always as an attachment; a runner may read only inputs of a task it holds",
    params: FileParams,
    responses: { 200: RAW_RESPONSE },
    audit: 'file.download',
  }),

  // --- tokens ------------------------------------------------------------------------------------
  listTokens: route({
    method: 'GET',
    path: `${API}/tokens`,
    access: 'admin',
    tag: 'tokens',
    summary: 'User and registration tokens (never their values)',
    responses: { 200: TokenList },
  }),
  createToken: route({
    method: 'POST',
    path: `${API}/tokens`,
    access: 'admin',
    tag: 'tokens',
    summary: 'Create a token; its value is in this answer only',
    body: CreateTokenRequest,
    responses: { 201: CreatedToken },
    audit: 'token.create',
  }),
  revokeToken: route({
    method: 'DELETE',
    path: `${API}/tokens/:id`,
    access: 'admin',
    tag: 'tokens',
    summary: 'Revoke a token at once',
    params: TokenParams,
    responses: { 200: TokenInfo },
    audit: 'token.revoke',
  }),

  whoami: route({
    method: 'GET',
    path: `${API}/whoami`,
    access: 'viewer',
    tag: 'tokens',
    summary: 'The token making the call: its name, kind and role',
    responses: { 200: Identity },
  }),

  // --- audit -------------------------------------------------------------------------------------
  listAudit: route({
    method: 'GET',
    path: `${API}/audit`,
    access: 'admin',
    tag: 'audit',
    summary: 'The audit log, newest first: who did what to which object, from where, and how it ended',
    query: ListAuditQuery,
    responses: { 200: AuditPage },
  }),

  // --- the runner protocol (the solder, with its runner token) ------------------------------------
  register: route({
    method: 'POST',
    path: `${API}/runners/register`,
    access: 'registration',
    tag: 'runner protocol',
    summary: 'Register a runner with the registration token; returns its own runner token',
    body: RegisterRunnerRequest,
    responses: { 201: RegisterRunnerResponse },
    audit: 'runner.register',
  }),
  heartbeat: route({
    method: 'POST',
    path: `${API}/runners/:id/heartbeat`,
    access: 'runner',
    tag: 'runner protocol',
    summary: "Heartbeat; the answer lists the runner's tasks to cancel or abandon",
    params: RunnerParams,
    body: HeartbeatRequest.default({}),
    responses: { 200: HeartbeatResponse },
  }),
  nextTasks: route({
    method: 'GET',
    path: `${API}/runners/:id/tasks/next`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Claim tasks, long-polling up to `wait` seconds; 204 when none came',
    params: RunnerParams,
    query: NextTasksQuery,
    responses: { 200: NextTasksResponse, 204: z.null().describe('no task within the wait') },
  }),
  reportTaskStatus: route({
    method: 'POST',
    path: `${API}/tasks/:id/status`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Report a task status (fenced: only the holding runner, only legal transitions)',
    params: TaskParams,
    body: TaskStatusRequest,
    responses: { 200: TaskStatusResponse },
    errors: [409],
  }),
  appendTaskLogs: route({
    method: 'POST',
    path: `${API}/tasks/:id/logs`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Append a numbered batch of log lines (idempotent, in order)',
    params: TaskParams,
    body: AppendLogsRequest,
    // A well-behaved solder sends at most 64 KiB a batch; this leaves room for a few
    // megabyte-long lines without letting one request hold the server's memory.
    bodyLimit: 8 * 1024 * 1024,
    responses: { 200: AppendLogsResponse },
    errors: [409, 413],
  }),
  uploadArtifact: route({
    method: 'POST',
    path: `${API}/artifacts/upload`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Upload an artifact of a held task (multipart: task_id, path, then file)',
    bodyKind: 'multipart',
    responses: { 200: Artifact, 201: Artifact },
    errors: [404, 409, 413, 507],
  }),
} as const;

export type Routes = typeof routes;
export type OperationName = keyof Routes;
