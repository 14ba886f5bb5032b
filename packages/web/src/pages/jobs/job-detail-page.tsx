import type { JobWithTasks, Runner, Task } from '@borg/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { AssignedGpus } from '../../components/assigned-gpus.tsx';
import { Link } from '../../components/link.tsx';
import { LogView } from '../../components/log-view.tsx';
import { ErrorState, Loading } from '../../components/page-states.tsx';
import { PermittedButton } from '../../components/permitted-button.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { downloadStoredFile } from '../../lib/download.ts';
import { formatBytes } from '../../lib/format.ts';
import { useIdentity } from '../../lib/identity.ts';
import { useTopic } from '../../lib/live.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate, useLocation } from '../../lib/router.ts';
import { ScheduleOrigin } from '../schedules/schedule-origin.tsx';
import { ArrayProgress } from './array-progress.tsx';
import { AttemptRow } from './attempt-row.tsx';
import { confirmAction, type JobAction, runJobAction } from './bulk-actions.ts';
import { ElementGrid } from './element-grid.tsx';
import { FailureBanner, LOG_HEADING_ID } from './failure-banner.tsx';
import { JobDependencies, SkipBanner } from './job-dependencies.tsx';
import { JobKeeping } from './job-keeping.tsx';
import { JobLogSearch } from './job-log-search.tsx';
import { mayChangeJob } from './job-permissions.ts';
import { JobSpec } from './job-spec.tsx';
import { MaxParallelControl } from './max-parallel-control.tsx';
import { UnsatisfiableBadge } from './resource-request.tsx';
import { RunAgainActions } from './run-again.tsx';
import { TaskGpuCharts } from './task-gpu-charts.tsx';
import { useTaskLog } from './task-log.ts';

export { endReason } from './attempt-row.tsx';

function TaskLogPanel({ task, line }: { task: Task; line: number | undefined }) {
  useTopic(`task:${task.id}`);
  const log = useTaskLog(task.id);
  if (log.error) return <ErrorState error={log.error} retry={() => void log.refetch()} />;
  if (!log.data) return <Loading what="Loading the log" />;
  return <LogView lines={log.data.lines} fileName={`task-${task.id}.log`} loading={log.isFetching} jumpToLine={line} />;
}

/** The `line` search parameter (a log search's link): a line index, or undefined. */
function lineParam(text: string | null): number | undefined {
  return text !== null && /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

function Artifacts({ task }: { task: Task }) {
  const artifacts = useQuery({ queryKey: queryKeys.artifacts(task.id), queryFn: () => api().listArtifacts(task.id) });
  const [error, setError] = useState<string | null>(null);
  if (artifacts.error) return <ErrorState error={artifacts.error} />;
  const items = artifacts.data?.items ?? [];
  return (
    <div className="mt-4">
      <h3 className="mb-1 font-semibold">Artifacts</h3>
      {items.length === 0 ? (
        <p className="text-sm text-slate-500">{artifacts.isLoading ? 'Loading…' : 'None kept for this attempt.'}</p>
      ) : (
        <ul className="text-sm">
          {items.map((a) => (
            <li key={a.id} data-testid="artifact">
              <button
                type="button"
                className="font-mono text-blue-700 hover:underline"
                onClick={() => downloadStoredFile(a.file_id, a.path).catch((e: unknown) => setError(errorMessage(e)))}
              >
                {a.path}
              </button>{' '}
              <span className="text-slate-500">{formatBytes(a.size)}</span>
            </li>
          ))}
        </ul>
      )}
      {error && <p role="alert">{error}</p>}
    </div>
  );
}

/** The GPUs the selected attempt holds or held, and a chart of each. */
function SelectedGpus({ task }: { task: Task }) {
  return (
    <div className="mb-4 space-y-2">
      <p className="text-sm">
        Assigned <AssignedGpus gpus={task.gpus} />
      </p>
      <TaskGpuCharts task={task} />
    </div>
  );
}

/** How many attempt rows to draw before asking: a 10,000-element array would be 10,000 rows. */
const FIRST_ROWS = 200;

export function JobDetailPage({ id }: { id: string }) {
  useTopic(`job:${id}`);
  useTopic('runners');
  const queries = useQueryClient();
  const identity = useIdentity();
  const { search } = useLocation();
  const [allRows, setAllRows] = useState(false);
  const job = useQuery({ queryKey: queryKeys.job(id), queryFn: () => api().getJob(id) });
  const runners = useQuery({ queryKey: queryKeys.runners(), queryFn: () => api().listRunners({ limit: 500 }) });
  const action = useMutation({
    mutationFn: (what: JobAction) => runJobAction(what, id),
    onSuccess: (updated, what) => {
      if (what === 'delete') {
        queries.removeQueries({ queryKey: queryKeys.job(id), exact: true });
        return navigate('/jobs');
      }
      queries.setQueryData<JobWithTasks>(queryKeys.job(id), (old) => (old ? { ...old, ...updated } : old));
      // A retry adds attempts: fetch them rather than wait for their events.
      void queries.invalidateQueries({ queryKey: queryKeys.job(id) });
    },
  });

  if (job.error) return <ErrorState error={job.error} retry={() => void job.refetch()} />;
  if (!job.data) return <Loading what="Loading the job" />;
  const j = job.data;
  const names = new Map((runners.data?.items ?? []).map((r: Runner) => [r.id, r.name]));
  const tasks = [...j.tasks].sort((a, b) => a.index - b.index || a.attempt - b.attempt);
  const selected = tasks.find((t) => t.id === search.get('task')) ?? tasks[tasks.length - 1];
  const finished = ['succeeded', 'failed', 'cancelled', 'skipped'].includes(j.status);
  const shown = allRows ? tasks : tasks.slice(0, FIRST_ROWS);
  // The GPU column only for a job that asks for GPUs (or whose attempts got some anyway).
  const showGpus = (j.resources.gpus ?? 0) > 0 || tasks.some((t) => t.gpus.length > 0);

  const button =
    'rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600';
  const act = (what: JobAction, label: string) => (
    <PermittedButton
      permission={mayChangeJob(identity, what, j)}
      className={button}
      disabled={action.isPending}
      onClick={() => confirmAction(what, 1) && action.mutate(what)}
    >
      {label}
    </PermittedButton>
  );
  return (
    <section className="space-y-4">
      <p className="text-sm">
        <Link to="/jobs">← Jobs</Link>
      </p>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="min-w-0 break-words text-xl font-semibold">{j.name}</h1>
        <StatusBadge status={j.status} />
        {j.paused && j.status !== 'paused' && <StatusBadge status="paused" />}
        {j.unsatisfiable && <UnsatisfiableBadge />}
        <div className="flex flex-wrap items-start gap-2 sm:ml-auto">
          {!finished && !j.paused && act('pause', 'Pause')}
          {j.paused && !finished && act('resume', 'Resume')}
          {!finished && act('cancel', 'Cancel')}
          {/* A skipped job never ran: what to retry is the job it waited for (its banner links it). */}
          {finished && j.status !== 'succeeded' && j.status !== 'skipped' && act('retry', 'Retry')}
          <RunAgainActions job={j} className={button} />
          {finished && !j.pinned && act('delete', 'Delete')}
        </div>
      </div>
      <p className="text-sm text-slate-600" data-testid="submitted-by">
        Submitted by {j.created_by?.name ?? '—'}
      </p>
      <ScheduleOrigin job={j} />
      <JobKeeping job={j} buttonClass={button} />
      {action.error && (
        <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
          {errorMessage(action.error)}
        </p>
      )}
      {j.status === 'skipped' && <SkipBanner job={j} />}
      {j.status === 'failed' && <FailureBanner jobId={id} tasks={tasks} />}
      <JobDependencies job={j} />
      {j.array_size > 1 && <ArrayProgress tasks={tasks} size={j.array_size} />}
      {j.array_size > 1 && <MaxParallelControl job={j} />}
      {j.array_size > 1 && <ElementGrid job={j} />}

      <JobLogSearch jobId={id} />

      <h2 className="font-semibold">Attempts</h2>
      <div className="overflow-x-auto rounded bg-white shadow">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-slate-200 text-slate-500">
            <tr>
              <th className="p-2">Element</th>
              <th className="p-2">Attempt</th>
              <th className="p-2">Status</th>
              <th className="p-2">Runner</th>
              <th className="hidden p-2 sm:table-cell">Started</th>
              <th className="hidden p-2 sm:table-cell">Ended</th>
              <th className="p-2">Took</th>
              <th className="p-2">Exit</th>
              {showGpus && <th className="hidden p-2 md:table-cell">GPUs</th>}
              <th className="p-2">End reason</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => (
              <AttemptRow
                key={t.id}
                task={t}
                jobId={id}
                runnerName={t.runner_id ? names.get(t.runner_id) : undefined}
                selected={t.id === selected?.id}
                showGpus={showGpus}
                columns={showGpus ? 10 : 9}
              />
            ))}
          </tbody>
        </table>
        {tasks.length > shown.length && (
          <button type="button" onClick={() => setAllRows(true)} className="m-2 text-sm text-blue-700 underline">
            Show all {tasks.length} attempts
          </button>
        )}
      </div>
      {selected && (
        <div>
          <h2 id={LOG_HEADING_ID} className="mb-2 scroll-mt-4 font-semibold">
            Log of element #{selected.index}, attempt {selected.attempt}
          </h2>
          {selected.gpus.length > 0 && <SelectedGpus key={`g-${selected.id}`} task={selected} />}
          <TaskLogPanel
            key={`${selected.id}:${search.get('line') ?? ''}`}
            task={selected}
            line={lineParam(search.get('line'))}
          />
          <Artifacts key={`a-${selected.id}`} task={selected} />
        </div>
      )}
      <h2 className="font-semibold">Specification</h2>
      <JobSpec job={j} />
    </section>
  );
}
