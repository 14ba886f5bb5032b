import type { Job, Runner } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';

import { Link } from '../components/link.tsx';
import { RelativeTime } from '../components/relative-time.tsx';
import { api, errorMessage } from '../lib/api.ts';
import { formatDuration } from '../lib/format.ts';
import { queryKeys } from '../lib/query-keys.ts';
import { useNow } from '../lib/use-now.ts';

/** How many rows each panel lists. */
export const PANEL_ROWS = 5;
const HOUR_MS = 3_600_000;
/** The API's largest page: the failures and the queue are read from one page each. */
const PAGE = 500;

/** Failed jobs that ended within the last hour, newest first. */
export function recentFailures(jobs: readonly Job[], now: number): Job[] {
  return jobs
    .filter((j) => j.completed_at && now - Date.parse(j.completed_at) <= HOUR_MS)
    .sort((a, b) => Date.parse(b.completed_at!) - Date.parse(a.completed_at!));
}

/** Queued jobs, the one waiting longest first. */
export function longestWaiting(jobs: readonly Job[]): Job[] {
  return [...jobs].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
}

/** Offline runners, the one heard from most recently first (a runner that just went away leads). */
export function offlineRunners(runners: readonly Runner[]): Runner[] {
  const seen = (r: Runner) => (r.last_heartbeat ? Date.parse(r.last_heartbeat) : 0);
  return runners.filter((r) => r.status === 'offline').sort((a, b) => seen(b) - seen(a));
}

function Panel({ title, more, children }: { title: string; more: { to: string; label: string }; children: ReactNode }) {
  return (
    <section aria-label={title} className="rounded bg-white p-4 shadow">
      <div className="mb-2 flex items-baseline gap-2">
        <h2 className="font-semibold">{title}</h2>
        <Link to={more.to} className="ml-auto text-sm text-blue-700 hover:underline">
          {more.label}
        </Link>
      </div>
      {children}
    </section>
  );
}

function Rows({ empty, error, children }: { empty: string; error: unknown; children: ReactNode[] | undefined }) {
  if (error) return <p className="text-sm text-red-800">{errorMessage(error)}</p>;
  if (!children) return <p className="text-sm text-slate-500">Loading…</p>;
  if (children.length === 0) return <p className="text-sm text-slate-500">{empty}</p>;
  return <ul className="divide-y divide-slate-100 text-sm">{children}</ul>;
}

export function RecentFailures({ failedCount }: { failedCount: number }) {
  const jobs = useQuery({
    queryKey: queryKeys.overviewFailures(failedCount),
    queryFn: () => api().listJobs({ status: 'failed', limit: PAGE }),
    // The hour moves on without any event saying so.
    refetchInterval: 60_000,
  });
  const now = useNow();
  const failures = jobs.data ? recentFailures(jobs.data.items, now) : undefined;
  return (
    <Panel title="Failed in the last hour" more={{ to: '/jobs?status=failed', label: 'All failed' }}>
      <Rows empty="No job failed in the last hour." error={jobs.error}>
        {failures?.slice(0, PANEL_ROWS).map((j) => (
          <li key={j.id} data-testid="recent-failure" className="flex items-baseline gap-2 py-1.5">
            <Link to={`/jobs/${j.id}`} className="min-w-0 truncate text-blue-700 hover:underline">
              {j.name}
            </Link>
            <span className="ml-auto shrink-0 text-xs text-slate-500">
              <RelativeTime at={j.completed_at} />
            </span>
          </li>
        ))}
      </Rows>
      {failures && failures.length > PANEL_ROWS && (
        <p className="mt-1 text-xs text-slate-500">and {failures.length - PANEL_ROWS} more</p>
      )}
    </Panel>
  );
}

export function LongestWaiting({ queuedCount }: { queuedCount: number }) {
  const jobs = useQuery({
    queryKey: queryKeys.overviewWaiting(queuedCount),
    queryFn: () => api().listJobs({ status: 'queued', limit: PAGE }),
  });
  const now = useNow();
  const waiting = jobs.data ? longestWaiting(jobs.data.items) : undefined;
  return (
    <Panel title="Waiting longest" more={{ to: '/jobs?status=queued', label: 'All queued' }}>
      <Rows empty="Nothing is waiting." error={jobs.error}>
        {waiting?.slice(0, PANEL_ROWS).map((j) => (
          <li key={j.id} data-testid="waiting-job" className="flex items-baseline gap-2 py-1.5">
            <Link to={`/jobs/${j.id}`} className="min-w-0 truncate text-blue-700 hover:underline">
              {j.name}
            </Link>
            <span className="ml-auto shrink-0 text-xs text-slate-500">
              {j.paused ? 'paused, ' : ''}waiting {formatDuration((now - Date.parse(j.created_at)) / 1000)}
            </span>
          </li>
        ))}
      </Rows>
      {jobs.data?.next_cursor && <p className="mt-1 text-xs text-slate-500">Among the newest {PAGE} queued jobs.</p>}
    </Panel>
  );
}

export function OfflineRunners() {
  const runners = useQuery({ queryKey: queryKeys.runners(), queryFn: () => api().listRunners({ limit: PAGE }) });
  const offline = runners.data ? offlineRunners(runners.data.items) : undefined;
  return (
    <Panel title="Runners offline" more={{ to: '/runners', label: 'All runners' }}>
      <Rows empty="Every runner is online." error={runners.error}>
        {offline?.slice(0, PANEL_ROWS).map((r) => (
          <li key={r.id} data-testid="offline-runner" className="flex items-baseline gap-2 py-1.5">
            <Link to={`/runners/${r.id}`} className="min-w-0 truncate text-blue-700 hover:underline">
              {r.name}
            </Link>
            <span className="ml-auto shrink-0 text-xs text-slate-500">
              last heard <RelativeTime at={r.last_heartbeat} />
            </span>
          </li>
        ))}
      </Rows>
    </Panel>
  );
}
