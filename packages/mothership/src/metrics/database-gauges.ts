import type { StorageUsage } from '@borg/protocol';
import { Gauge, type Registry } from 'prom-client';

import type { Database } from '../db/database.ts';
import { jobStore } from '../jobs/job-store.ts';
import { taskStore } from '../jobs/task-store.ts';
import { type FleetGpu, gpuSampleStore } from '../runners/gpu-sample-store.ts';
import { runnerStore } from '../runners/runner-store.ts';
import { storageUsageStore } from '../stats/storage-usage-store.ts';

/** Label sets reported one by one; a fleet with more distinct requirements than this shows the largest. */
export const MAX_LABEL_SETS = 50;
/** GPUs reported one by one (runner × device); a bigger fleet shows the first by runner name. */
export const MAX_GPU_SERIES = 4096;

interface Snapshot {
  ok: boolean;
  jobs: Record<string, number>;
  tasks: Record<string, number>;
  runners: Record<string, number>;
  unsupportedProtocol: number;
  queue: { depth: number; oldestSeconds: number };
  byLabels: Array<{ labels: Record<string, string>; depth: number; oldestSeconds: number }>;
  gpus: FleetGpu[];
  /** null while nothing was read: the gauges then show nothing. */
  storage: StorageUsage | null;
}

const EMPTY: Snapshot = {
  ok: false,
  jobs: {},
  tasks: {},
  runners: {},
  unsupportedProtocol: 0,
  queue: { depth: 0, oldestSeconds: 0 },
  byLabels: [],
  gpus: [],
  storage: null,
};

const STORAGE_KINDS = ['logs', 'artifacts', 'files'] as const;

/** `{"os":"linux","gpu":"true"}` → `gpu=true,os=linux`: one stable string per label set. */
export function labelSetName(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(',');
}

/**
 * The gauges that come from the database: jobs, tasks and runners by status, the queue (depth
 * and oldest claimable task, overall and per required label set), and the storage used by logs,
 * artifacts and files. They are read when Prometheus scrapes, at most once per `cacheMs` however
 * often it does (and scrapes that overlap share one read), so a scraper cannot turn into load on
 * the database. The figures are the whole cluster's and so the same on every replica: aggregate
 * them with max(), not sum().
 */
export class DatabaseGauges {
  private cached: { at: number; snapshot: Promise<Snapshot> } | undefined;

  constructor(
    private readonly db: Database,
    registry: Registry,
    private readonly cacheMs: number,
  ) {
    const registers = [registry];
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      fill: (g: Gauge<L>, s: Snapshot) => void,
    ) => {
      const read = () => this.snapshot();
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          const snapshot = await read();
          this.reset(); // label sets that went away must not linger at their last value
          fill(this, snapshot);
        },
      });
    };
    const byStatus = (counts: Record<string, number>, g: Gauge<'status'>) => {
      for (const [status, n] of Object.entries(counts)) g.set({ status }, n);
    };

    gauge('borg_database_up', '1 if the last metrics read from the database succeeded, else 0.', [], (g, s) =>
      g.set(s.ok ? 1 : 0),
    );
    gauge('borg_jobs', 'Jobs by status (whole cluster).', ['status'], (g, s) => byStatus(s.jobs, g));
    gauge('borg_tasks', 'Tasks (attempts) by status (whole cluster).', ['status'], (g, s) => byStatus(s.tasks, g));
    gauge('borg_runners', 'Runners by status: online (idle), busy, draining, offline.', ['status'], (g, s) =>
      byStatus(s.runners, g),
    );
    gauge(
      'borg_runners_unsupported_protocol',
      'Runners that speak a runner protocol version this mothership does not: upgrade their solders.',
      [],
      (g, s) => g.set(s.unsupportedProtocol),
    );
    gauge(
      'borg_queue_claimable_tasks',
      'Pending tasks a runner could take now (job not paused, backoff over).',
      [],
      (g, s) => g.set(s.queue.depth),
    );
    gauge(
      'borg_queue_oldest_claimable_seconds',
      'Age of the oldest claimable task since it became claimable; 0 when the queue is empty.',
      [],
      (g, s) => g.set(s.queue.oldestSeconds),
    );
    gauge(
      'borg_queue_depth',
      `Claimable tasks per required label set ("k=v,…", "" for none; the ${MAX_LABEL_SETS} largest sets).`,
      ['labels'],
      (g, s) => {
        for (const row of s.byLabels) g.set({ labels: labelSetName(row.labels) }, row.depth);
      },
    );
    gauge(
      'borg_queue_oldest_pending_seconds',
      'Age of the oldest claimable task per required label set: work no runner is taking shows here first.',
      ['labels'],
      (g, s) => {
        for (const row of s.byLabels) g.set({ labels: labelSetName(row.labels) }, row.oldestSeconds);
      },
    );
    const perGpu = (name: string, help: string, value: (gpu: FleetGpu) => number | null) =>
      gauge(name, help, ['runner', 'gpu'], (g, s) => {
        for (const gpu of s.gpus) {
          const v = value(gpu);
          if (v !== null) g.set({ runner: gpu.runner, gpu: String(gpu.index) }, v);
        }
      });
    perGpu(
      'borg_gpu_utilization_percent',
      'Utilisation of each GPU of the online runners, as last sampled while a task held it.',
      (gpu) => gpu.utilization_pct,
    );
    perGpu(
      'borg_gpu_memory_used_megabytes',
      'Memory used on each GPU of the online runners, as last sampled while a task held it.',
      (gpu) => gpu.memory_used_mb,
    );
    perGpu('borg_gpu_allocated', '1 if a task holds this GPU now, else 0.', (gpu) => (gpu.allocated ? 1 : 0));
    gauge(
      'borg_storage_bytes',
      'Bytes stored by kind: logs (the log chunks in the database, TOAST and index included), artifacts and files (uploaded for jobs).',
      ['kind'],
      (g, s) => {
        for (const kind of STORAGE_KINDS) if (s.storage) g.set({ kind }, s.storage[kind].bytes);
      },
    );
    gauge(
      'borg_storage_objects',
      'What holds those bytes, by kind: log chunks, artifact files, uploaded files.',
      ['kind'],
      (g, s) => {
        for (const kind of STORAGE_KINDS) if (s.storage) g.set({ kind }, s.storage[kind].count);
      },
    );
  }

  private snapshot(): Promise<Snapshot> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at >= this.cacheMs) {
      this.cached = { at: now, snapshot: this.read() };
    }
    return this.cached.snapshot;
  }

  /** Never rejects: a database that does not answer shows as borg_database_up 0 and no figures. */
  private async read(): Promise<Snapshot> {
    try {
      const [jobs, tasks, runners, unsupportedProtocol, queue, byLabels, gpus, storage] = await Promise.all([
        jobStore.countByStatus(this.db),
        taskStore.countByStatus(this.db),
        runnerStore.countByStatus(this.db),
        runnerStore.countUnsupportedProtocol(this.db),
        taskStore.queueDepth(this.db),
        taskStore.queueDepthByLabels(this.db, MAX_LABEL_SETS),
        gpuSampleStore.fleet(this.db, MAX_GPU_SERIES),
        storageUsageStore.read(this.db),
      ]);
      return { ok: true, jobs, tasks, runners, unsupportedProtocol, queue, byLabels, gpus, storage };
    } catch {
      return EMPTY;
    }
  }
}
