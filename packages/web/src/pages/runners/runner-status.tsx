import type { Runner } from '@borg/protocol';

import { StatusBadge } from '../../components/status-badge.tsx';

/** A runner's state as lists and its page show it: waiting for approval, or offline because it said it was stopping. */
export function RunnerStatusBadge({ runner }: { runner: Runner }) {
  if (!runner.approved) return <StatusBadge status="awaiting_approval" />;
  const stopped = runner.status === 'offline' && runner.offline_reason === 'stopped';
  return <StatusBadge status={runner.status} label={stopped ? 'offline (stopped)' : undefined} />;
}
