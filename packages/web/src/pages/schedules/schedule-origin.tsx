import { BorgApiError, type Job } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { api } from '../../lib/api.ts';
import { formatTime } from '../../lib/format.ts';
import { queryKeys } from '../../lib/query-keys.ts';

/** On a job's page: "From schedule nightly for 03/12/2026, 03:00:00", the schedule linked (or said to be gone). */
export function ScheduleOrigin({ job }: { job: Pick<Job, 'schedule_id' | 'scheduled_for'> }) {
  const scheduleId = job.schedule_id;
  const schedule = useQuery({
    queryKey: queryKeys.schedule(scheduleId ?? ''),
    queryFn: () => api().getSchedule(scheduleId!),
    enabled: scheduleId !== null,
    retry: (count, error) => !(error instanceof BorgApiError && error.status === 404) && count < 2,
  });
  if (!scheduleId) return null;
  const gone = schedule.error instanceof BorgApiError && schedule.error.status === 404;
  return (
    <p className="text-sm text-slate-600" data-testid="schedule-origin">
      From schedule{' '}
      {gone ? (
        <span title={scheduleId}>(deleted)</span>
      ) : (
        <Link to={`/schedules/${scheduleId}`}>{schedule.data?.name ?? scheduleId.slice(0, 8)}</Link>
      )}{' '}
      for <time dateTime={job.scheduled_for ?? undefined}>{formatTime(job.scheduled_for)}</time>
    </p>
  );
}
