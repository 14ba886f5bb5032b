import { useQuery } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { api } from '../../lib/api.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { ScheduleActions } from './schedule-actions.tsx';
import { FireOutcome, inZone, NextFire } from './schedule-fire.tsx';
import { SCHEDULES_REFRESH_MS } from './schedules-page.tsx';

const OVERLAP_WORDS = {
  skip: 'skip a slot while the previous job runs',
  allow: 'run alongside the previous job',
  cancel_running: 'cancel the previous job, then run',
} as const;
const CATCH_UP_WORDS = { none: 'run none of the slots missed while down', last: 'run once for the latest missed slot' };

/** `/schedules/:id`: a schedule, the job it submits, and its latest fires with their jobs or why not. */
export function ScheduleDetailPage({ id }: { id: string }) {
  const schedule = useQuery({
    queryKey: queryKeys.schedule(id),
    queryFn: () => api().getSchedule(id),
    refetchInterval: SCHEDULES_REFRESH_MS,
  });
  if (schedule.error) return <ErrorState error={schedule.error} retry={() => void schedule.refetch()} />;
  if (!schedule.data) return <Loading what="Loading the schedule" />;
  const s = schedule.data;
  const command = Array.isArray(s.job.command) ? s.job.command.join(' ') : s.job.command;
  return (
    <section className="space-y-4">
      <p className="text-sm">
        <Link to="/schedules">← Schedules</Link>
      </p>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="min-w-0 break-words text-xl font-semibold">{s.name}</h1>
        <div className="sm:ml-auto">
          <ScheduleActions schedule={s} afterDelete="/schedules" />
        </div>
      </div>
      <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 rounded bg-white p-4 text-sm shadow">
        <dt className="text-slate-500">Cron</dt>
        <dd className="font-mono">
          {s.cron} <span className="font-sans text-slate-500">in {s.timezone}</span>
        </dd>
        <dt className="text-slate-500">Next fire</dt>
        <dd>
          <NextFire schedule={s} />
          {!s.paused && s.next_fire_at && (
            <span className="ml-2 text-slate-500">
              {inZone(s.next_fire_at, s.timezone)} {s.timezone}
            </span>
          )}
        </dd>
        <dt className="text-slate-500">Overlap</dt>
        <dd>{OVERLAP_WORDS[s.overlap]}</dd>
        <dt className="text-slate-500">Catch up</dt>
        <dd>{CATCH_UP_WORDS[s.catch_up]}</dd>
        <dt className="text-slate-500">Job</dt>
        <dd>
          {s.job.name} <span className="text-slate-500">({s.job.type})</span>{' '}
          <code className="rounded bg-slate-100 px-1 font-mono text-xs break-all">{command}</code>
        </dd>
        <dt className="text-slate-500">Created by</dt>
        <dd>
          {s.created_by?.name ?? '—'}, <RelativeTime at={s.created_at} />
        </dd>
      </dl>
      <h2 className="font-semibold">Latest fires</h2>
      <div className="overflow-x-auto rounded bg-white shadow">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-slate-200 text-slate-500">
            <tr>
              <th className="p-2">Slot</th>
              <th className="p-2">Trigger</th>
              <th className="p-2">Outcome</th>
              <th className="p-2">Late by</th>
              <th className="p-2">Why</th>
            </tr>
          </thead>
          <tbody>
            {s.last_fires.map((fire) => (
              <tr key={fire.scheduled_for} data-testid="fire-row" className="border-b border-slate-100 last:border-0">
                <td className="p-2 whitespace-nowrap" title={`${inZone(fire.scheduled_for, s.timezone)} ${s.timezone}`}>
                  <RelativeTime at={fire.scheduled_for} />
                </td>
                <td className="p-2">{fire.trigger}</td>
                <td className="p-2">
                  <FireOutcome fire={fire} />
                </td>
                <td className="p-2 whitespace-nowrap">
                  {fire.lateness_seconds === null ? '—' : `${fire.lateness_seconds.toFixed(2)} s`}
                </td>
                <td className="p-2 text-slate-600">{fire.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {s.last_fires.length === 0 && <Empty>No fires yet.</Empty>}
      </div>
    </section>
  );
}
