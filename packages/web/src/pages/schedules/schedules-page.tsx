import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { NewScheduleForm } from './new-schedule-form.tsx';
import { ScheduleActions } from './schedule-actions.tsx';
import { FireOutcome, NextFire } from './schedule-fire.tsx';

/** How often the list is read again: its fires and next fires change on their own. */
export const SCHEDULES_REFRESH_MS = 3_000;

/** `/schedules`: every schedule with its next and last fire, its actions, and (for operators) a form for a new one. */
export function SchedulesPage() {
  const queries = useQueryClient();
  const mayCreate = mayCall(useIdentity(), 'createSchedule').allowed;
  const [creating, setCreating] = useState(false);
  const list = useQuery({
    queryKey: queryKeys.schedules(),
    queryFn: () => api().listSchedules({ limit: 500 }),
    refetchInterval: SCHEDULES_REFRESH_MS,
  });

  return (
    <section className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold">Schedules</h1>
        {mayCreate && !creating && (
          <button
            type="button"
            onClick={() => setCreating(true)}
            className="ml-auto rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white"
          >
            New schedule
          </button>
        )}
      </div>
      {creating && (
        <NewScheduleForm
          onCreated={() => {
            setCreating(false);
            void queries.invalidateQueries({ queryKey: queryKeys.schedules() });
          }}
        />
      )}
      {list.error && <ErrorState error={list.error} retry={() => void list.refetch()} />}
      {list.isLoading && <Loading what="Loading the schedules" />}
      {list.data && (
        <div className="overflow-x-auto rounded bg-white shadow">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 text-slate-500">
              <tr>
                <th className="p-2">Name</th>
                <th className="p-2">Cron</th>
                <th className="p-2">Time zone</th>
                <th className="p-2">Next fire</th>
                <th className="p-2">Last fire</th>
                <th className="p-2">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((schedule) => {
                const last = schedule.last_fires[0];
                return (
                  <tr key={schedule.id} data-testid="schedule-row" className="border-b border-slate-100 last:border-0">
                    <td className="max-w-64 truncate p-2">
                      <Link to={`/schedules/${schedule.id}`}>{schedule.name}</Link>
                    </td>
                    <td className="p-2 font-mono text-xs whitespace-nowrap">{schedule.cron}</td>
                    <td className="p-2 whitespace-nowrap">{schedule.timezone}</td>
                    <td className="p-2 whitespace-nowrap">
                      <NextFire schedule={schedule} />
                    </td>
                    <td className="p-2 whitespace-nowrap" data-testid="last-fire">
                      {last ? (
                        <span className="flex items-center gap-2">
                          <FireOutcome fire={last} />
                          <RelativeTime at={last.scheduled_for} />
                        </span>
                      ) : (
                        '—'
                      )}
                    </td>
                    {/* The buttons stay on one line; on a phone the table scrolls in its box instead. */}
                    <td className="p-2 [&>div]:flex-nowrap">
                      <ScheduleActions schedule={schedule} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {list.data.items.length === 0 && <Empty>No schedules yet.</Empty>}
        </div>
      )}
    </section>
  );
}
