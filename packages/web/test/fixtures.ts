/**
 * Complete protocol objects for the dashboard's tests, with neutral defaults: a test passes only
 * the values it means (ids, names, statuses), so a field added to the protocol changes this file
 * alone.
 */
import type { Job, JobWithTasks, Runner, Task } from '@borg/protocol';

/** The one timestamp the fixtures use for every date they fill in. */
export const FIXTURE_AT = '2026-01-01T00:00:00.000Z';

export const jobOf = (extra: Partial<Job> = {}): Job => ({
  id: 'job',
  name: 'job',
  type: 'shell',
  status: 'queued',
  command: 'true',
  image: null,
  env: {},
  secrets: {},
  labels: {},
  resources: {},
  constraints: [],
  unsatisfiable: false,
  priority: 0,
  max_attempts: 1,
  retry: null,
  on_disconnect: null,
  timeout_seconds: null,
  array_size: 1,
  max_parallel: null,
  files: [],
  artifacts: [],
  depends_on: [],
  inputs_from: [],
  skip_reason: null,
  pipeline_id: null,
  schedule_id: null,
  scheduled_for: null,
  retention: null,
  pinned: false,
  keep_last: null,
  paused: false,
  created_by: null,
  outcome: { runners: [], runner_count: 0, failure: null },
  created_at: FIXTURE_AT,
  updated_at: FIXTURE_AT,
  started_at: null,
  completed_at: null,
  ...extra,
});

export const jobWithTasksOf = (extra: Partial<JobWithTasks> = {}): JobWithTasks => ({
  ...jobOf(),
  tasks: [],
  ...extra,
});

export const taskOf = (extra: Partial<Task> = {}): Task => ({
  id: 'task',
  job_id: 'job',
  index: 0,
  attempt: 1,
  status: 'pending',
  runner_id: null,
  exit_code: null,
  reason: null,
  error: null,
  cancel_requested: false,
  signal: null,
  retry_decision: null,
  gpus: [],
  created_at: FIXTURE_AT,
  available_at: FIXTURE_AT,
  assigned_at: null,
  started_at: null,
  completed_at: null,
  ...extra,
});

export const runnerOf = (extra: Partial<Runner> = {}): Runner => ({
  id: 'runner',
  device_id: 'device',
  name: 'runner',
  hostname: 'runner.local',
  os: 'linux',
  arch: 'x64',
  version: null,
  protocol_version: 1,
  protocol_supported: true,
  status: 'online',
  draining: false,
  approved: true,
  max_concurrent_tasks: 1,
  active_tasks: 0,
  labels: {},
  resources: {},
  capacity: null,
  gpus: [],
  attributes: {},
  job_types: null,
  last_heartbeat: FIXTURE_AT,
  created_at: FIXTURE_AT,
  ...extra,
});
