import { BorgApiError, type BorgClient, type ErrorCode, type JobWithTasks, type Task } from '@borg/protocol';

import { CliError, ExitCode, usageError } from './cli-error.ts';

export type JobOrTask = { kind: 'job'; job: JobWithTasks } | { kind: 'task'; task: Task };

/**
 * `borg logs ID` and `borg artifacts list ID` take a job id or a task id: ids are UUIDs from
 * one space, so trying the job first and the task second cannot pick the wrong one.
 */
export async function resolveJobOrTask(client: BorgClient, id: string): Promise<JobOrTask> {
  try {
    return { kind: 'job', job: await client.getJob(id) };
  } catch (error) {
    if (hasCode(error, 'VALIDATION_FAILED'))
      throw usageError(`"${id}" is not a job or task id`, 'ids look like 0b6f1c2e-…; see `borg jobs list`');
    if (!hasCode(error, 'JOB_NOT_FOUND')) throw error;
  }
  try {
    return { kind: 'task', task: await client.getTask(id) };
  } catch (error) {
    if (!hasCode(error, 'TASK_NOT_FOUND')) throw error;
    throw new CliError(
      `no job or task has the id ${id}`,
      ExitCode.NOT_FOUND,
      'see `borg jobs list` and `borg jobs show JOB`',
    );
  }
}

function hasCode(error: unknown, code: ErrorCode): boolean {
  return error instanceof BorgApiError && error.code === code;
}
