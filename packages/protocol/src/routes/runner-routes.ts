import { z } from 'zod';

import { route } from '../route-definition.ts';
import { AppendLogsRequest, AppendLogsResponse } from '../schemas/logs.ts';
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
} from '../schemas/runners.ts';
import {
  TakeOverResponse,
  TaskStatusBatchRequest,
  TaskStatusBatchResponse,
  TaskStatusRequest,
  TaskStatusResponse,
} from '../schemas/tasks.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

const RunnerParams = idParams('runner');
const TaskParams = idParams('task');

/** Runners as people see them, and the runner protocol the solder speaks with its runner token. */
export const runnerRoutes = {
  listRunners: route({
    method: 'GET',
    path: `${API_PREFIX}/runners`,
    access: 'viewer',
    tag: 'runners',
    summary: 'List runners, newest first',
    query: ListRunnersQuery,
    responses: { 200: RunnerPage },
  }),
  getRunner: route({
    method: 'GET',
    path: `${API_PREFIX}/runners/:id`,
    access: 'viewer',
    tag: 'runners',
    summary: 'One runner',
    params: RunnerParams,
    responses: { 200: Runner },
  }),
  runnerTasks: route({
    method: 'GET',
    path: `${API_PREFIX}/runners/:id/tasks`,
    access: 'viewer',
    tag: 'runners',
    summary: 'The tasks a runner holds now (assigned or running)',
    params: RunnerParams,
    responses: { 200: RunnerTasks },
  }),
  drainRunner: route({
    method: 'POST',
    path: `${API_PREFIX}/runners/:id/drain`,
    access: 'operator',
    tag: 'runners',
    summary: 'Drain: the runner finishes its tasks and takes no new ones',
    params: RunnerParams,
    responses: { 200: Runner },
    audit: 'runner.drain',
  }),
  resumeRunner: route({
    method: 'POST',
    path: `${API_PREFIX}/runners/:id/resume`,
    access: 'operator',
    tag: 'runners',
    summary: 'Undo a drain',
    params: RunnerParams,
    responses: { 200: Runner },
    audit: 'runner.resume',
  }),
  approveRunner: route({
    method: 'POST',
    path: `${API_PREFIX}/runners/:id/approve`,
    access: 'operator',
    tag: 'runners',
    summary: 'Approve a runner waiting for approval (BORG_RUNNER_APPROVAL): it starts taking work',
    params: RunnerParams,
    responses: { 200: Runner },
    audit: 'runner.approve',
  }),
  deleteRunner: route({
    method: 'DELETE',
    path: `${API_PREFIX}/runners/:id`,
    access: 'operator',
    tag: 'runners',
    summary:
      'Delete a runner: its token stops working, its tasks are retried as lost, and its device may not register again',
    params: RunnerParams,
    responses: { 200: Runner },
    audit: 'runner.delete',
  }),
  register: route({
    method: 'POST',
    path: `${API_PREFIX}/runners/register`,
    access: 'registration',
    tag: 'runner protocol',
    summary:
      'Register a runner with a registration token (or re-register one with its own runner token); returns a new runner token',
    body: RegisterRunnerRequest,
    responses: { 201: RegisterRunnerResponse },
    audit: 'runner.register',
  }),
  heartbeat: route({
    method: 'POST',
    path: `${API_PREFIX}/runners/:id/heartbeat`,
    access: 'runner',
    tag: 'runner protocol',
    summary: "Heartbeat; the answer lists the runner's tasks to cancel or abandon",
    params: RunnerParams,
    body: HeartbeatRequest.default({}),
    responses: { 200: HeartbeatResponse },
  }),
  nextTasks: route({
    method: 'GET',
    path: `${API_PREFIX}/runners/:id/tasks/next`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Claim tasks, long-polling up to `wait` seconds; 204 when none came',
    params: RunnerParams,
    query: NextTasksQuery,
    responses: { 200: NextTasksResponse, 204: z.null().describe('no task within the wait') },
  }),
  reportTaskStatus: route({
    method: 'POST',
    path: `${API_PREFIX}/tasks/:id/status`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Report a task status (fenced: only the holding runner, only legal transitions)',
    params: TaskParams,
    body: TaskStatusRequest,
    responses: { 200: TaskStatusResponse },
    errors: [409],
  }),
  reportTaskStatuses: route({
    method: 'POST',
    path: `${API_PREFIX}/runners/:id/tasks/status`,
    access: 'runner',
    tag: 'runner protocol',
    summary:
      "Report many of the runner's tasks at once, in order; each report is answered on its own, as the single report would be",
    params: RunnerParams,
    body: TaskStatusBatchRequest,
    responses: { 200: TaskStatusBatchResponse },
  }),
  takeOverTask: route({
    method: 'POST',
    path: `${API_PREFIX}/tasks/:id/take-over`,
    access: 'runner',
    tag: 'runner protocol',
    summary:
      'Make the kept copy of an attempt taken back while its runner was cut off (on_disconnect keep) the element’s attempt, once it succeeded: first success wins',
    params: TaskParams,
    responses: { 200: TakeOverResponse },
    errors: [409],
  }),
  appendTaskLogs: route({
    method: 'POST',
    path: `${API_PREFIX}/tasks/:id/logs`,
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
} as const;
