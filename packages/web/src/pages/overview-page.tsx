import { useQuery } from '@tanstack/react-query';

import { api, errorMessage } from '../lib/api.ts';
import { useTopic } from '../lib/live.ts';

function Stat({ label, value }: { label: string; value: number | string }) {
  return (
    <div className="rounded bg-white p-4 shadow">
      <div className="text-sm text-slate-500">{label}</div>
      <div className="text-2xl font-semibold">{value}</div>
    </div>
  );
}

/** Counts from /stats; job and runner events invalidate them (see live.ts). */
export function OverviewPage() {
  useTopic('jobs');
  useTopic('runners');
  const stats = useQuery({ queryKey: ['stats'], queryFn: () => api().stats() });
  if (stats.error) return <p role="alert">{errorMessage(stats.error)}</p>;
  const s = stats.data;
  if (!s) return <p>Loading…</p>;
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">Overview</h1>
      <div className="grid grid-cols-4 gap-4">
        <Stat label="Jobs queued" value={s.jobs.queued} />
        <Stat label="Jobs running" value={s.jobs.running} />
        <Stat label="Jobs succeeded" value={s.jobs.succeeded} />
        <Stat label="Jobs failed" value={s.jobs.failed} />
        <Stat label="Queue depth" value={s.queue_depth} />
        <Stat label="Oldest pending" value={`${Math.round(s.oldest_pending_seconds)} s`} />
        <Stat label="Runners online" value={s.runners.online} />
        <Stat label="Runners total" value={s.runners.total} />
      </div>
    </section>
  );
}
