import type { Runner } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';

import { api } from '../../lib/api.ts';
import { formatDuration } from '../../lib/format.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { useNow } from '../../lib/use-now.ts';

/** The mothership's silence limit, from /stats (90 s with the default 30 s heartbeat). */
export function useOfflineAfterSeconds(): number | undefined {
  const stats = useQuery({ queryKey: queryKeys.stats(), queryFn: () => api().stats() });
  return stats.data?.runner_offline_after_seconds;
}

/** Seconds until a runner is marked offline if no heartbeat comes; null when it does not apply. */
export function secondsToOffline(runner: Runner, offlineAfter: number | undefined, now: number): number | null {
  if (runner.status === 'offline' || !runner.last_heartbeat || offlineAfter === undefined) return null;
  return Math.max(0, offlineAfter - (now - new Date(runner.last_heartbeat).getTime()) / 1000);
}

/**
 * "12 s ago, offline in 1 min 18 s": the last heartbeat and a live countdown to the moment
 * the mothership gives up on the runner. Each heartbeat arrives as a runner.updated event and
 * resets it.
 */
export function HeartbeatCountdown({ runner, offlineAfter }: { runner: Runner; offlineAfter: number | undefined }) {
  const now = useNow();
  if (!runner.last_heartbeat) return <span>never</span>;
  const ago = Math.max(0, (now - new Date(runner.last_heartbeat).getTime()) / 1000);
  const left = secondsToOffline(runner, offlineAfter, now);
  return (
    <span data-testid="heartbeat">
      {formatDuration(Math.floor(ago))} ago
      {left !== null && (
        <span className={left < 30 ? 'text-amber-700' : 'text-slate-500'}>
          {left > 0 ? `, offline in ${formatDuration(Math.ceil(left))}` : ', overdue: going offline'}
        </span>
      )}
    </span>
  );
}
