import type { Runner, RunnerGpu } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { api } from '../../lib/api.ts';
import { formatMegabytes, formatTime } from '../../lib/format.ts';
import { queryKeys } from '../../lib/query-keys.ts';

/** A GPU's memory in use from its last sample: measured, or total less free. */
export function gpuMemoryUsed(gpu: RunnerGpu): number | null {
  if (gpu.memory_used_mb !== null) return gpu.memory_used_mb;
  if (gpu.memory_mb !== null && gpu.memory_free_mb !== null) return Math.max(0, gpu.memory_mb - gpu.memory_free_mb);
  return null;
}

function describeMemory(gpu: RunnerGpu): string {
  const used = gpuMemoryUsed(gpu);
  if (used === null) return '—';
  return gpu.memory_mb !== null
    ? `${formatMegabytes(used)} of ${formatMegabytes(gpu.memory_mb)}`
    : formatMegabytes(used);
}

/**
 * The task holding a GPU, linked to its attempt on its job's page. The job comes from the
 * runner's task list (the same cache entry as "Tasks on this runner"); a task not in it yet is
 * named by its id.
 */
function Holder({ taskId, runner }: { taskId: string | null; runner: Runner }) {
  const tasks = useQuery({
    queryKey: queryKeys.runnerTasks(runner.id, runner.active_tasks),
    queryFn: () => api().runnerTasks(runner.id),
    enabled: taskId !== null,
  });
  if (taskId === null) return <span className="text-slate-500">free</span>;
  const task = tasks.data?.items.find((t) => t.id === taskId);
  if (!task) return <span className="font-mono text-xs">task {taskId.slice(0, 8)}</span>;
  return (
    <Link to={`/jobs/${task.job_id}?task=${task.id}`}>
      task {task.id.slice(0, 8)} (element #{task.index}, attempt {task.attempt})
    </Link>
  );
}

/** Each GPU of the runner: the device, its live state from the last sample, and who holds it. */
export function RunnerGpus({ runner }: { runner: Runner }) {
  const gpus = [...runner.gpus].sort((a, b) => a.index - b.index);
  return (
    <div className="overflow-x-auto rounded bg-white shadow">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">GPUs of {runner.name}</caption>
        <thead className="border-b border-slate-200 text-slate-500">
          <tr>
            <th className="p-2">GPU</th>
            <th className="p-2">Model</th>
            <th className="hidden p-2 sm:table-cell">Memory</th>
            <th className="p-2">Utilisation</th>
            <th className="p-2">Memory used</th>
            <th className="hidden p-2 md:table-cell">Sampled</th>
            <th className="p-2">Held by</th>
          </tr>
        </thead>
        <tbody>
          {gpus.map((g) => (
            <tr key={g.index} data-testid="runner-gpu" className="border-b border-slate-100 last:border-0">
              <td className="p-2" title={g.uuid || undefined}>
                {g.index}
              </td>
              <td className="p-2">{g.model || '—'}</td>
              <td className="hidden p-2 sm:table-cell">{g.memory_mb !== null ? formatMegabytes(g.memory_mb) : '—'}</td>
              <td className="p-2">{g.utilization_pct !== null ? `${Math.round(g.utilization_pct)}%` : '—'}</td>
              <td className="p-2">{describeMemory(g)}</td>
              <td className="hidden p-2 whitespace-nowrap md:table-cell">{formatTime(g.sampled_at)}</td>
              <td className="p-2">
                <Holder taskId={g.task_id} runner={runner} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
