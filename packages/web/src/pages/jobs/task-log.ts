import { type QueryClient, useQuery, useQueryClient } from '@tanstack/react-query';

import { api } from '../../lib/api.ts';
import { appendLines, contiguousEnd, type TaskLog } from '../../lib/live.ts';
import { queryKeys } from '../../lib/query-keys.ts';

/** Lines asked for in one request of a task's log: the API's largest page. */
const LOG_PAGE_LINES = 10_000;

/**
 * Loads a task's log page by page, from the end of what is already held without a gap: while
 * the page was elsewhere its topic was not subscribed, so lines may have been missed (and a
 * line that arrived live since may sit beyond the gap). Each page (LOG_PAGE_LINES) goes into the
 * cache at once, so a long log shows while the rest loads; lines that arrive live meanwhile are
 * appended to the same cache entry and kept.
 */
async function loadLog(queries: QueryClient, taskId: string): Promise<TaskLog> {
  const key = queryKeys.taskLog(taskId);
  const held = () => queries.getQueryData<TaskLog>(key)?.lines ?? [];
  for (;;) {
    const page = await api().getTaskLogs(taskId, { after: contiguousEnd(held()), limit: LOG_PAGE_LINES });
    const lines = appendLines(held(), page.items);
    if (page.items.length < LOG_PAGE_LINES) return { lines };
    queries.setQueryData<TaskLog>(key, { lines });
  }
}

/** A task's log from the shared cache: the log panel and the failure banner read one copy. */
export function useTaskLog(taskId: string) {
  const queries = useQueryClient();
  return useQuery({ queryKey: queryKeys.taskLog(taskId), queryFn: () => loadLog(queries, taskId) });
}
