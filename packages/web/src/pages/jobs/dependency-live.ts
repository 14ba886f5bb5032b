import type { Job, JobGraph, JobWithTasks } from '@borg/protocol';
import type { QueryClient } from '@tanstack/react-query';

import { queryKeys } from '../../lib/query-keys.ts';

/**
 * What a job.updated event means for what dependencies show (live.ts calls this before it
 * patches the job in, so the status held is still the old one):
 *
 * - A dependency graph that shows the job: when its status changed, the node takes the new
 *   status at once and the graph is fetched again (an ending moves the states of its edges, and
 *   may skip or release the jobs after it, whose own events follow). Events that leave the status
 *   as drawn (a running job's tasks moving) cost nothing.
 * - The job's own page: a job released by its dependencies (blocked → queued), skipped, or
 *   blocked again by a retry upstream moves its attempts in the same statement, and the
 *   mothership sends no task event for those (a fan-out would be thousands): its attempts are
 *   fetched again, only while a page holds them.
 */
export function jobChangedForDependencies(queries: QueryClient, job: Job): void {
  for (const [key, graph] of queries.getQueriesData<JobGraph>({ queryKey: queryKeys.jobGraphs() })) {
    const node = graph?.nodes.find((n) => n.id === job.id);
    if (!graph || !node || node.status === job.status) continue;
    queries.setQueryData<JobGraph>(key, {
      ...graph,
      nodes: graph.nodes.map((n) => (n.id === job.id ? { ...n, status: job.status } : n)),
    });
    void queries.invalidateQueries({ queryKey: key, exact: true });
  }
  const held = queries.getQueryData<JobWithTasks>(queryKeys.job(job.id));
  const movedByDependencies = held?.status === 'blocked' || job.status === 'blocked' || job.status === 'skipped';
  if (held && held.status !== job.status && movedByDependencies) {
    void queries.invalidateQueries({ queryKey: queryKeys.job(job.id), exact: true });
  }
}
