import { runnerIdOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function taskHandlers({
  jobs,
  placement,
  queue,
  artifacts,
}: Services): Handlers<
  | 'getTask'
  | 'getTaskGpus'
  | 'getTaskPlacement'
  | 'getTaskLogs'
  | 'listArtifacts'
  | 'reportTaskStatus'
  | 'reportTaskStatuses'
  | 'appendTaskLogs'
  | 'takeOverTask'
> {
  return {
    getTask: async (request) => jobs.getTask(request.params.id),
    getTaskGpus: async (request) => jobs.taskGpus(request.params.id),
    getTaskPlacement: async (request) => placement.explainTask(request.params.id),
    getTaskLogs: async (request) => jobs.taskLogs(request.params.id, request.query.after ?? -1, request.query.limit),
    listArtifacts: async (request) => ({ items: await artifacts.listOfTask(request.params.id), next_cursor: null }),
    reportTaskStatus: async (request) => queue.reportStatus(runnerIdOf(request), request.params.id, request.body),
    reportTaskStatuses: async (request) => ({
      results: await queue.reportStatuses(runnerIdOf(request), request.body.reports),
    }),
    appendTaskLogs: async (request) => queue.appendLogs(runnerIdOf(request), request.params.id, request.body),
    takeOverTask: async (request) => queue.takeOver(runnerIdOf(request), request.params.id),
  };
}
