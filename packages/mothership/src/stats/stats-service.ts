import { type Stats, type StatsTimeseries, TIMESERIES_BUCKETS, TIMESERIES_WINDOWS } from '@borg/protocol';

import type { Database } from '../db/database.ts';
import { jobStore } from '../jobs/job-store.ts';
import { taskStore } from '../jobs/task-store.ts';
import { runnerStore } from '../runners/runner-store.ts';
import { STORAGE_USAGE_CACHE_MS, StorageUsageCache } from './storage-usage-cache.ts';
import { taskTimeseries } from './task-timeseries-store.ts';

/** The overview's figures: counts now (the storage used a few seconds old at most), and charts over a window. */
export class StatsService {
  private readonly storage: StorageUsageCache;

  constructor(
    private readonly db: Database,
    /** Seconds of heartbeat silence after which a runner is offline. */
    private readonly runnerOfflineAfterSeconds: number,
    storageCacheMs = STORAGE_USAGE_CACHE_MS,
  ) {
    this.storage = new StorageUsageCache(db, storageCacheMs);
  }

  async counts(): Promise<Stats> {
    const [jobs, tasks, runners, queue, storage] = await Promise.all([
      jobStore.countByStatus(this.db),
      taskStore.countByStatus(this.db),
      runnerStore.countByStatus(this.db),
      taskStore.queueDepth(this.db),
      this.storage.get(),
    ]);
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      jobs: { ...jobs, total: sum(jobs) },
      tasks,
      runners: { ...runners, total: sum(runners) },
      queue_depth: queue.depth,
      oldest_pending_seconds: queue.oldestSeconds,
      runner_offline_after_seconds: this.runnerOfflineAfterSeconds,
      storage,
    };
  }

  timeseries(window: keyof typeof TIMESERIES_WINDOWS): Promise<StatsTimeseries> {
    return taskTimeseries(this.db, TIMESERIES_WINDOWS[window], TIMESERIES_BUCKETS);
  }
}
