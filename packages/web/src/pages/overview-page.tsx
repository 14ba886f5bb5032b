import { useQuery } from '@tanstack/react-query';

import { BarChart, LineChart } from '../components/chart.tsx';
import { Link } from '../components/link.tsx';
import { ErrorState, Loading } from '../components/page-states.tsx';
import { api } from '../lib/api.ts';
import { formatDuration } from '../lib/format.ts';
import { useTopic } from '../lib/live.ts';
import { queryKeys } from '../lib/query-keys.ts';
import { LongestWaiting, OfflineRunners, RecentFailures } from './overview-attention.tsx';
import { StorageUsed } from './overview-storage.tsx';

function Stat({ label, value, to, detail }: { label: string; value: number | string; to?: string; detail?: string }) {
  const body = (
    <>
      <div className="text-sm text-slate-500">{label}</div>
      <div className="text-2xl font-semibold">{value}</div>
      {detail && <div className="text-xs text-slate-500">{detail}</div>}
    </>
  );
  return to ? (
    <Link
      to={to}
      className="block rounded bg-white p-4 shadow hover:ring-2 hover:ring-blue-200 focus-visible:outline-2"
    >
      {body}
    </Link>
  ) : (
    <div className="rounded bg-white p-4 shadow">{body}</div>
  );
}

function Charts() {
  // Buckets are a minute wide and no event says "a minute passed", so the series is fetched
  // again once a minute (the counts above it are kept live by events instead).
  const series = useQuery({
    queryKey: queryKeys.timeseries('1h'),
    queryFn: () => api().statsTimeseries({ window: '1h' }),
    refetchInterval: 60_000,
  });
  if (series.error) return <ErrorState error={series.error} retry={() => void series.refetch()} />;
  if (!series.data) return <Loading what="Loading the last hour" />;
  const points = series.data.points;
  const pick = (f: (p: (typeof points)[number]) => number | null) => points.map(f);
  const sum = (values: Array<number | null>) => values.reduce<number>((a, v) => a + (v ?? 0), 0);
  const last = <T,>(values: T[]) => values[values.length - 1];
  const waits95 = pick((p) => p.wait_p95_seconds).filter((v): v is number => v !== null);
  const utilisation = pick((p) => p.utilisation);
  const finished = sum(pick((p) => p.finished));
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <BarChart
        title="Tasks finished per minute"
        summary={`${finished} in the last hour`}
        span="60 min"
        series={[
          { label: 'succeeded', colour: '#16a34a', values: pick((p) => p.succeeded) },
          { label: 'failed', colour: '#dc2626', values: pick((p) => p.failed) },
          { label: 'cancelled', colour: '#a1a1aa', values: pick((p) => p.cancelled) },
        ]}
      />
      <LineChart
        title="Queue depth"
        summary={`${last(pick((p) => p.queue_depth)) ?? 0} waiting now`}
        span="60 min"
        series={[{ label: 'queued', colour: '#2563eb', values: pick((p) => p.queue_depth) }]}
      />
      <LineChart
        title="Queue wait"
        summary={waits95.length ? `p95 up to ${formatDuration(Math.max(...waits95))}` : 'no task claimed'}
        span="60 min"
        format={(v) => formatDuration(v)}
        series={[
          { label: 'p50', colour: '#0891b2', values: pick((p) => p.wait_p50_seconds) },
          { label: 'p95', colour: '#c026d3', values: pick((p) => p.wait_p95_seconds) },
        ]}
      />
      <LineChart
        title="Runner utilisation"
        summary={
          series.data.capacity > 0
            ? `${pct(last(utilisation) ?? 0)} of ${series.data.capacity} slots now`
            : 'no runner online'
        }
        span="60 min"
        max={1}
        format={pct}
        series={[{ label: 'busy slots', colour: '#ea580c', values: utilisation }]}
      />
    </div>
  );
}

/** Counts from /stats (job and runner events invalidate them, see live.ts), the last hour, and the storage used. */
export function OverviewPage() {
  useTopic('jobs');
  useTopic('runners');
  const stats = useQuery({ queryKey: queryKeys.stats(), queryFn: () => api().stats() });
  if (stats.error) return <ErrorState error={stats.error} retry={() => void stats.refetch()} />;
  const s = stats.data;
  if (!s) return <Loading what="Loading the overview" />;
  return (
    <section className="space-y-4">
      <h1 className="text-xl font-semibold">Overview</h1>
      {/* What an operator looks at first sits beside the counts and charts on a wide screen, between them on a narrow one. */}
      <div className="grid items-start gap-4 xl:grid-cols-[minmax(0,1fr)_24rem]">
        <div className="grid grid-cols-2 gap-3 sm:grid-cols-4 sm:gap-4">
          <Stat
            label="Jobs queued"
            value={s.jobs.queued}
            to="/jobs?status=queued"
            detail={s.jobs.blocked > 0 ? `and ${s.jobs.blocked} blocked by dependencies` : undefined}
          />
          <Stat label="Jobs running" value={s.jobs.running} to="/jobs?status=running" />
          <Stat label="Jobs succeeded" value={s.jobs.succeeded} to="/jobs?status=succeeded" />
          <Stat label="Jobs failed" value={s.jobs.failed} to="/jobs?status=failed" />
          <Stat label="Tasks running" value={s.tasks.running + s.tasks.assigned} />
          <Stat label="Queue depth" value={s.queue_depth} />
          <Stat label="Oldest pending" value={formatDuration(Math.round(s.oldest_pending_seconds))} />
          <Stat
            label="Runners online / busy / offline"
            value={`${s.runners.online} / ${s.runners.busy} / ${s.runners.offline}`}
            to="/runners"
          />
        </div>
        <div
          aria-label="Needs attention"
          role="region"
          className="grid gap-4 md:grid-cols-3 xl:col-start-2 xl:row-span-2 xl:row-start-1 xl:grid-cols-1"
        >
          <RecentFailures failedCount={s.jobs.failed} />
          <LongestWaiting queuedCount={s.jobs.queued} />
          <OfflineRunners />
        </div>
        <div className="space-y-4 xl:col-start-1">
          <Charts />
          <StorageUsed storage={s.storage} />
        </div>
      </div>
    </section>
  );
}
