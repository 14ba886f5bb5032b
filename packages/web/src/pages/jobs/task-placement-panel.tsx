import { useQuery } from '@tanstack/react-query';

import { ErrorState, Loading } from '../../components/page-states.tsx';
import { api } from '../../lib/api.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { PlacementDetails } from './placement-details.tsx';

/** How often an open "Why pending?" asks again: the answer is computed on request, so not often. */
export const PLACEMENT_REFRESH_MS = 10_000;

/** A pending task's placement, fetched while the panel is open and refreshed now and then. */
export function TaskPlacementPanel({ taskId }: { taskId: string }) {
  const placement = useQuery({
    queryKey: queryKeys.taskPlacement(taskId),
    queryFn: () => api().getTaskPlacement(taskId),
    staleTime: PLACEMENT_REFRESH_MS / 2,
    refetchInterval: PLACEMENT_REFRESH_MS,
  });
  if (placement.error) return <ErrorState error={placement.error} retry={() => void placement.refetch()} />;
  if (!placement.data) return <Loading what="Asking why it waits" />;
  return <PlacementDetails placement={placement.data} />;
}
