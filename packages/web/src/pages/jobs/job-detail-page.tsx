import type { JobWithTasks, Task } from '@borg/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { LogView } from '../../components/log-view.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { appendLines, type TaskLog, useTopic } from '../../lib/live.ts';
import { navigate, useLocation } from '../../lib/router.ts';
import { timeAgo } from './jobs-page.tsx';

/** Loads a task's whole log page by page; new lines then arrive over the WebSocket. */
async function loadLog(taskId: string): Promise<TaskLog> {
  let lines: TaskLog['lines'] = [];
  for (;;) {
    const after = lines.length > 0 ? lines[lines.length - 1]!.index : undefined;
    const page = await api().getTaskLogs(taskId, { after, limit: 10_000 });
    lines = appendLines(lines, page.items);
    if (page.items.length < 10_000) return { lines };
  }
}

function TaskLogPanel({ task }: { task: Task }) {
  useTopic(`task:${task.id}`);
  const log = useQuery({ queryKey: ['logs', task.id], queryFn: () => loadLog(task.id), staleTime: Infinity });
  if (log.error) return <p role="alert">{errorMessage(log.error)}</p>;
  return <LogView lines={log.data?.lines ?? []} fileName={`task-${task.id}.log`} />;
}

function Artifacts({ task }: { task: Task }) {
  const artifacts = useQuery({ queryKey: ['artifacts', task.id], queryFn: () => api().listArtifacts(task.id) });
  const items = artifacts.data?.items ?? [];
  if (items.length === 0) return null;
  const download = async (fileId: string, path: string) => {
    const response = await api().downloadFile(fileId);
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = path.split('/').pop() ?? 'artifact';
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <ul className="mt-2 text-sm">
      {items.map((a) => (
        <li key={a.id}>
          <button
            type="button"
            className="text-blue-700 hover:underline"
            onClick={() => void download(a.file_id, a.path)}
          >
            {a.path}
          </button>{' '}
          <span className="text-slate-500">{a.size} bytes</span>
        </li>
      ))}
    </ul>
  );
}

const SECRET = /(secret|token|password|passwd|key|credential|auth)/i;

export function JobDetailPage({ id }: { id: string }) {
  useTopic(`job:${id}`);
  const queries = useQueryClient();
  const { search } = useLocation();
  const [revealed, setRevealed] = useState(false);
  const job = useQuery({ queryKey: ['job', id], queryFn: () => api().getJob(id) });
  const action = useMutation({
    mutationFn: (what: 'pause' | 'resume' | 'cancel' | 'retry') =>
      ({ pause: api().pauseJob, resume: api().resumeJob, cancel: api().cancelJob, retry: api().retryJob })[what].call(
        api(),
        id,
      ),
    onSuccess: (updated) =>
      queries.setQueryData<JobWithTasks>(['job', id], (old) => (old ? { ...old, ...updated } : old)),
  });

  if (job.error) return <p role="alert">{errorMessage(job.error)}</p>;
  if (!job.data) return <p>Loading…</p>;
  const j = job.data;
  const tasks = [...j.tasks].sort((a, b) => a.index - b.index || a.attempt - b.attempt);
  const selected = tasks.find((t) => t.id === search.get('task')) ?? tasks[tasks.length - 1];
  const finished = ['succeeded', 'failed', 'cancelled'].includes(j.status);

  const button = 'rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-100';
  return (
    <section className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-xl font-semibold">{j.name}</h1>
        <StatusBadge status={j.status} />
        <div className="ml-auto flex gap-2">
          {!finished && !j.paused && (
            <button type="button" className={button} onClick={() => action.mutate('pause')}>
              Pause
            </button>
          )}
          {j.paused && (
            <button type="button" className={button} onClick={() => action.mutate('resume')}>
              Resume
            </button>
          )}
          {!finished && (
            <button type="button" className={button} onClick={() => action.mutate('cancel')}>
              Cancel
            </button>
          )}
          {finished && j.status !== 'succeeded' && (
            <button type="button" className={button} onClick={() => action.mutate('retry')}>
              Retry
            </button>
          )}
        </div>
      </div>
      {action.error && <p role="alert">{errorMessage(action.error)}</p>}
      <dl className="grid grid-cols-[10rem_1fr] gap-1 rounded bg-white p-4 text-sm shadow">
        <dt className="text-slate-500">Command</dt>
        <dd className="font-mono whitespace-pre-wrap">{Array.isArray(j.command) ? j.command.join(' ') : j.command}</dd>
        <dt className="text-slate-500">Type</dt>
        <dd>
          {j.type}
          {j.image ? ` (${j.image})` : ''}
        </dd>
        <dt className="text-slate-500">Environment</dt>
        <dd className="font-mono">
          {Object.entries(j.env).map(([k, v]) => (
            <div key={k}>
              {k}={SECRET.test(k) && !revealed ? '••••••' : v}
            </div>
          ))}
          {Object.keys(j.env).some((k) => SECRET.test(k)) && (
            <button type="button" className="text-xs text-blue-700" onClick={() => setRevealed(!revealed)}>
              {revealed ? 'hide secrets' : 'show secrets'}
            </button>
          )}
        </dd>
        <dt className="text-slate-500">Labels</dt>
        <dd className="font-mono">
          {Object.entries(j.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || '—'}
        </dd>
        <dt className="text-slate-500">Attempts / timeout</dt>
        <dd>
          {j.max_attempts} / {j.timeout_seconds ? `${j.timeout_seconds} s` : 'none'}
        </dd>
        <dt className="text-slate-500">Created</dt>
        <dd>{timeAgo(j.created_at)}</dd>
      </dl>
      <table className="w-full rounded bg-white text-left text-sm shadow">
        <thead className="border-b text-slate-500">
          <tr>
            <th className="p-2">Task</th>
            <th className="p-2">Attempt</th>
            <th className="p-2">Status</th>
            <th className="p-2">Runner</th>
            <th className="p-2">Started</th>
            <th className="p-2">Ended</th>
            <th className="p-2">Exit</th>
            <th className="p-2">Reason</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr
              key={t.id}
              data-testid="task-row"
              onClick={() => navigate(`/jobs/${id}?task=${t.id}`, { replace: true })}
              className={`cursor-pointer border-b last:border-0 ${t.id === selected?.id ? 'bg-blue-50' : ''}`}
            >
              <td className="p-2">#{t.index}</td>
              <td className="p-2">{t.attempt}</td>
              <td className="p-2">
                <StatusBadge status={t.status} />
              </td>
              <td className="p-2 font-mono text-xs">{t.runner_id ?? '—'}</td>
              <td className="p-2">{timeAgo(t.started_at)}</td>
              <td className="p-2">{timeAgo(t.completed_at)}</td>
              <td className="p-2">{t.exit_code ?? '—'}</td>
              <td className="p-2">{t.reason ?? t.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected && (
        <div>
          <h2 className="mb-2 font-semibold">
            Log of task #{selected.index}, attempt {selected.attempt}
          </h2>
          <TaskLogPanel key={selected.id} task={selected} />
          <Artifacts task={selected} />
        </div>
      )}
    </section>
  );
}
