import { BorgApiError, type BorgClient, type ErrorCode, type JobWithTasks, type Task } from '@borg/protocol';

import { CliError, ExitCode } from './cli-error.ts';
import { fullId } from './id-prefix.ts';

export type JobOrTask = { kind: 'job'; job: JobWithTasks } | { kind: 'task'; task: Task };

/**
 * `borg logs ID` and `borg artifacts list ID` take a job id or a task id, whole or its first
 * characters (id-prefix.ts). Ids are UUIDs from one space, so for a whole id trying the job
 * first and the task second cannot pick the wrong one.
 */
export async function resolveJobOrTask(client: BorgClient, typed: string): Promise<JobOrTask> {
  const { id, kind } = await fullId(client, typed, ['job', 'task']);
  if (kind === 'task') return { kind: 'task', task: await client.getTask(id) };
  try {
    return { kind: 'job', job: await client.getJob(id) };
  } catch (error) {
    if (kind === 'job' || !hasCode(error, 'JOB_NOT_FOUND')) throw error;
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
