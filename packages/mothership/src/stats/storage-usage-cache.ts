import type { StorageUsage } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { storageUsageStore } from './storage-usage-store.ts';

/** How long a reading of the storage used is served again: it counts every file and chunk. */
export const STORAGE_USAGE_CACHE_MS = 15_000;

/**
 * The storage used, read from the database at most once per `ttlMs` however often it is asked
 * (the dashboard refetches /stats on every job event; Prometheus scrapes); asks that overlap
 * share one read, and a failed read is not kept.
 */
export class StorageUsageCache {
  private cached: { at: number; usage: Promise<StorageUsage> } | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = STORAGE_USAGE_CACHE_MS,
  ) {}

  get(): Promise<StorageUsage> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at >= this.ttlMs) {
      const usage = storageUsageStore.read(this.db);
      const entry = { at: now, usage };
      this.cached = entry;
      usage.catch(() => {
        if (this.cached === entry) this.cached = undefined;
      });
    }
    return this.cached.usage;
  }
}
