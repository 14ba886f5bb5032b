import type { Schedule } from '@borg/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';

import { PermittedButton } from '../../components/permitted-button.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate } from '../../lib/router.ts';
import { mayChangeSchedule } from './schedule-permissions.ts';

const button = 'rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-50 disabled:opacity-50';

/**
 * Pause or resume, trigger (fire once now, then open its job) and delete, each offered as the
 * token's role and the schedule's creator allow (disabled with the reason, or hidden for a viewer).
 */
export function ScheduleActions({ schedule, afterDelete }: { schedule: Schedule; afterDelete?: string }) {
  const identity = useIdentity();
  const queries = useQueryClient();
  const refresh = () =>
    Promise.all([
      queries.invalidateQueries({ queryKey: queryKeys.schedules() }),
      queries.invalidateQueries({ queryKey: queryKeys.schedule(schedule.id) }),
    ]);
  const pause = useMutation({
    mutationFn: () => api().updateSchedule(schedule.id, { paused: !schedule.paused }),
    onSuccess: refresh,
  });
  const trigger = useMutation({
    mutationFn: () => api().triggerSchedule(schedule.id),
    onSuccess: async (job) => {
      await refresh();
      navigate(`/jobs/${job.id}`);
    },
  });
  const remove = useMutation({
    mutationFn: () => api().deleteSchedule(schedule.id),
    onSuccess: async () => {
      await refresh();
      if (afterDelete) navigate(afterDelete);
    },
  });
  const error = pause.error ?? trigger.error ?? remove.error;
  const busy = pause.isPending || trigger.isPending || remove.isPending;
  return (
    <div className="flex flex-wrap items-center gap-2">
      <PermittedButton
        permission={mayChangeSchedule(identity, 'updateSchedule', schedule)}
        disabled={busy}
        onClick={() => pause.mutate()}
        className={button}
      >
        {schedule.paused ? 'Resume' : 'Pause'}
      </PermittedButton>
      <PermittedButton
        permission={mayChangeSchedule(identity, 'triggerSchedule', schedule)}
        disabled={busy}
        onClick={() => trigger.mutate()}
        title="Fire once now and open its job"
        className={button}
      >
        Trigger now
      </PermittedButton>
      <PermittedButton
        permission={mayChangeSchedule(identity, 'deleteSchedule', schedule)}
        disabled={busy}
        onClick={() => {
          if (confirm(`Delete the schedule “${schedule.name}”? The jobs it submitted stay.`)) remove.mutate();
        }}
        className={`${button} text-red-700`}
      >
        Delete
      </PermittedButton>
      {error && (
        <span role="alert" className="text-sm text-red-700">
          {errorMessage(error)}
        </span>
      )}
    </div>
  );
}
