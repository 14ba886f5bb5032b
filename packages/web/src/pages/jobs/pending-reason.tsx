import type { Job } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';
import { useRef } from 'react';

import { api } from '../../lib/api.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { useInView } from '../../lib/use-in-view.ts';

/** How long a queued job's reason is reused before it is asked for again. */
export const REASON_STALE_MS = 30_000;

/**
 * A queued job's short reason for the jobs list: its first pending task's placement summary,
 * fetched only once the row comes into view and reused for a while. A job no runner could take
 * at submit says so.
 */
export function PendingReason({ job }: { job: Job }) {
  const ref = useRef<HTMLSpanElement>(null);
  const inView = useInView(ref);
  const placement = useQuery({
    queryKey: queryKeys.jobPlacement(job.id),
    queryFn: () => api().getJobPlacement(job.id),
    enabled: inView,
    staleTime: REASON_STALE_MS,
    retry: false,
  });
  const summary = placement.data?.summary ?? null;
  const text = summary ?? (job.unsatisfiable ? 'unsatisfiable' : placement.isLoading ? '…' : '—');
  return (
    <span ref={ref} data-testid="pending-reason" title={summary ?? undefined} className="block truncate">
      {job.unsatisfiable && summary !== null && <span className="mr-1 text-orange-800">unsatisfiable:</span>}
      {text}
    </span>
  );
}
