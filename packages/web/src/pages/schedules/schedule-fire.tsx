import type { Schedule, ScheduleFire } from '@borg/protocol';

import { Link } from '../../components/link.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { formatDuration } from '../../lib/format.ts';
import { useNow } from '../../lib/use-now.ts';

/** What became of a fire: its job's status (linked to the job), or skipped / failed with why on hover. */
export function FireOutcome({ fire }: { fire: ScheduleFire }) {
  if (fire.outcome === 'created') {
    if (!fire.job_id) return <StatusBadge status="created" />;
    return (
      <Link to={`/jobs/${fire.job_id}`}>
        <StatusBadge status={fire.job_status ?? 'deleted'} label={fire.job_status ?? 'job deleted'} />
      </Link>
    );
  }
  return (
    <span title={fire.reason ?? undefined}>
      <StatusBadge status={fire.outcome === 'failed' ? 'failed' : 'skipped'} label={`fire ${fire.outcome}`} />
    </span>
  );
}

/** An instant as the wall clock of a time zone reads it: "Fri 2026-12-04 02:30:00". */
export function inZone(iso: string, timeZone: string): string {
  const date = new Date(iso);
  const weekday = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short' }).format(date);
  const wallClock = new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(date);
  return `${weekday} ${wallClock}`;
}

/** When a schedule fires next: "in 4 min 2 s", the wall-clock time in its zone on hover; or why never. */
export function NextFire({ schedule }: { schedule: Pick<Schedule, 'paused' | 'next_fire_at' | 'timezone'> }) {
  const now = useNow();
  if (schedule.paused) return <span className="text-amber-700">paused</span>;
  if (!schedule.next_fire_at) return <span className="text-slate-500">never again</span>;
  const seconds = (Date.parse(schedule.next_fire_at) - now) / 1000;
  const exact = `${inZone(schedule.next_fire_at, schedule.timezone)} ${schedule.timezone}`;
  return (
    <time dateTime={schedule.next_fire_at} title={exact} data-testid="next-fire">
      {seconds < 1 ? 'now' : `in ${formatDuration(Math.ceil(seconds))}`}
    </time>
  );
}
