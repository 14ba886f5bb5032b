import type { ListAuditQuery, ListJobsQuery, QueryInput, TimeseriesQuery } from '@borg/protocol';

/** The filters of one jobs list, the second element of its key. */
export type JobListFilters = Omit<ListJobsQuery, 'limit' | 'cursor'>;

/** The filters of one audit list. (The protocol names no type for its query; this is the client's.) */
export type AuditFilters = Omit<QueryInput<typeof ListAuditQuery>, 'limit' | 'cursor'>;

/**
 * Every TanStack Query key of the dashboard. Pages read a key and live events patch the same
 * one, so a key is built only here: a list's key starts with its prefix (`jobLists()`), so one
 * invalidation reaches every filtered list, and a job fetched by any page shares `job(id)`.
 */
export const queryKeys = {
  /** The signed-in token (whoami): fetched once, then static until sign-out clears the cache. */
  whoami: () => ['whoami'] as const,
  stats: () => ['stats'] as const,
  timeseries: (window: NonNullable<TimeseriesQuery['window']>) => ['timeseries', window] as const,
  /** The prefix of every jobs list, whatever its filters. */
  jobLists: () => ['jobs'] as const,
  jobList: (filters: JobListFilters) => ['jobs', filters] as const,
  job: (id: string) => ['job', id] as const,
  /** Every element's latest attempt of an array job (its grid); task events patch the grid's own store. */
  jobElements: (id: string) => ['job-elements', id] as const,
  taskLog: (taskId: string) => ['logs', taskId] as const,
  artifacts: (taskId: string) => ['artifacts', taskId] as const,
  /** The jobs a job depends on and that depend on it (its page's graph); `jobGraphs()` is every one held. */
  jobGraphs: () => ['job-graph'] as const,
  jobGraph: (id: string) => ['job-graph', id] as const,
  /** Why a pending task waits (computed by the mothership on each request). */
  taskPlacement: (taskId: string) => ['task-placement', taskId] as const,
  /** Why a queued job waits: its first pending task's placement (the jobs list's reason column). */
  jobPlacement: (jobId: string) => ['job-placement', jobId] as const,
  /** The utilisation and memory samples of the GPUs an attempt held. */
  taskGpus: (taskId: string) => ['task-gpus', taskId] as const,
  file: (fileId: string) => ['file', fileId] as const,
  /**
   * The overview's recent failures and longest-waiting jobs, keyed by the live count they follow
   * (stats are kept current by events), so a new failure or queued job fetches them again. Not
   * under `jobLists()`: those are paged lists that events patch in place.
   */
  overviewFailures: (failedCount: number) => ['overview', 'failures', failedCount] as const,
  overviewWaiting: (queuedCount: number) => ['overview', 'waiting', queuedCount] as const,
  runners: () => ['runners'] as const,
  runner: (id: string) => ['runner', id] as const,
  /** A runner's tasks, keyed by its count of active tasks too, so a change in the count refetches them. */
  runnerTasks: (runnerId: string, activeTasks: number) => ['runner-tasks', runnerId, activeTasks] as const,
  auditList: (filters: AuditFilters) => ['audit', filters] as const,
  /** Every schedule (one page of up to 500, refetched every few seconds). */
  schedules: () => ['schedules'] as const,
  schedule: (id: string) => ['schedule', id] as const,
  webhooks: () => ['webhooks'] as const,
  webhook: (id: string) => ['webhook', id] as const,
  /** A webhook's deliveries, paged; read again while one is pending (they have no live events). */
  webhookDeliveries: (id: string) => ['webhook-deliveries', id] as const,
  /** One delivery with its attempts. */
  webhookDelivery: (id: string, deliveryId: string) => ['webhook-delivery', id, deliveryId] as const,
};

/** The filters in a jobs list's key. */
export function filtersOfJobList(key: readonly unknown[]): JobListFilters | undefined {
  return key[1] as JobListFilters | undefined;
}
