import type { Task, TaskGpuSamples } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';

import { LineChart } from '../../components/chart.tsx';
import { ErrorState, Loading } from '../../components/page-states.tsx';
import { api } from '../../lib/api.ts';
import { between, formatMegabytes } from '../../lib/format.ts';
import { queryKeys } from '../../lib/query-keys.ts';

/** How often a running attempt's GPU samples are fetched again: the solder samples about every 5 s. */
export const GPU_REFRESH_MS = 5_000;

type GpuSeries = TaskGpuSamples['items'][number];

const UTILISATION = '#2563eb';
const MEMORY = '#9333ea';

/** The last value of a series that has one, and its highest. */
export function lastAndPeak(values: ReadonlyArray<number | null>): { last: number | null; peak: number | null } {
  const known = values.filter((v): v is number => v !== null);
  return { last: known.at(-1) ?? null, peak: known.length > 0 ? Math.max(...known) : null };
}

function describe(values: ReadonlyArray<number | null>, format: (v: number) => string, running: boolean): string {
  const { last, peak } = lastAndPeak(values);
  if (last === null || peak === null) return 'no samples';
  return `${running ? 'now' : 'last'} ${format(last)}, peak ${format(peak)}`;
}

const percent = (v: number) => `${Math.round(v)}%`;

/** One GPU's utilisation and memory over the attempt. */
function GpuCharts({ gpu, running }: { gpu: GpuSeries; running: boolean }) {
  const first = gpu.samples[0]?.at ?? null;
  const last = gpu.samples.at(-1)?.at ?? null;
  const span = between(first, running ? null : last);
  // A finished attempt's charts end at its last sample, not now.
  const axis = running ? undefined : { start: 'first sample', end: `last sample, ${span} later` };
  const utilisation = gpu.samples.map((s) => s.utilization_pct);
  const memory = gpu.samples.map((s) => s.memory_used_mb);
  return (
    <div role="group" aria-label={`GPU ${gpu.index}`} data-testid="gpu-charts" className="grid gap-2 md:grid-cols-2">
      <LineChart
        title={`GPU ${gpu.index} utilisation`}
        summary={describe(utilisation, percent, running)}
        series={[{ label: 'utilisation', colour: UTILISATION, values: utilisation }]}
        format={percent}
        max={100}
        span={span}
        axis={axis}
      />
      <LineChart
        title={`GPU ${gpu.index} memory used`}
        summary={describe(memory, formatMegabytes, running)}
        series={[{ label: 'memory used', colour: MEMORY, values: memory }]}
        format={formatMegabytes}
        span={span}
        axis={axis}
      />
    </div>
  );
}

/** A chart per GPU the attempt holds or held, fetched again every few seconds while it runs. */
export function TaskGpuCharts({ task }: { task: Task }) {
  const running = task.status === 'running' || task.status === 'assigned';
  const samples = useQuery({
    queryKey: queryKeys.taskGpus(task.id),
    queryFn: () => api().getTaskGpus(task.id),
    refetchInterval: running ? GPU_REFRESH_MS : false,
  });
  if (samples.error) return <ErrorState error={samples.error} retry={() => void samples.refetch()} />;
  if (!samples.data) return <Loading what="Loading the GPU samples" />;
  const items = [...samples.data.items].sort((a, b) => a.index - b.index);
  if (items.length === 0) return <p className="text-sm text-slate-500">No GPU samples for this attempt.</p>;
  return (
    <div className="space-y-3">
      {items.map((gpu) => (
        <GpuCharts key={gpu.index} gpu={gpu} running={running} />
      ))}
    </div>
  );
}
