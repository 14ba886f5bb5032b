import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { Database } from '../db/database.ts';
import type { QueueObserver } from '../dispatch/queue.ts';
import type { TaskRow } from '../jobs/task-store.ts';
import { DatabaseGauges } from './database-gauges.ts';

/** Seconds; request durations run from a cached token check (~1 ms) to a long-poll's full wait (≤ 120 s). */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Seconds from claimable to assigned: milliseconds when a runner waits, hours when none is free. */
const DISPATCH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Seconds a task ran: from a `true` to a day-long render. */
const TASK_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600];
/** Seconds an event took from one replica's publish to another's delivery (NOTIFY, plus a read for references). */
const EVENT_LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What this replica knows only in memory, read at scrape time. */
export interface LiveSources {
  websocketClients: () => number;
  longPollWaiters: () => number;
  maintenanceLeader: () => boolean;
}

/**
 * Process metrics (CPU, memory, event loop, GC) are the process's, not an app's: collected once
 * into a registry of their own, so that several motherships in one process (tests) neither
 * collide nor each add a GC observer.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * One mothership's Prometheus metrics, in a registry of its own (never prom-client's global one,
 * so several motherships in one test process do not collide). It observes the queue (claims,
 * task endings), HTTP requests, the event transport's lag, and reads the rest at scrape time:
 * in-memory figures directly, database figures through a short cache (DatabaseGauges).
 */
export class Metrics implements QueueObserver {
  readonly registry = new Registry();
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly dispatchLatency: Histogram;
  private readonly taskDuration: Histogram<'status'>;
  private readonly eventLag: Histogram;
  private readonly retentionCounter: Counter<'kind'>;
  private live: LiveSources = { websocketClients: () => 0, longPollWaiters: () => 0, maintenanceLeader: () => false };

  constructor(db: Database, options: { cacheMs?: number } = {}) {
    const registers = [this.registry];
    this.httpRequestDuration = new Histogram({
      name: 'borg_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern (never the raw URL) and status code. Long-polls last up to their wait.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.dispatchLatency = new Histogram({
      name: 'borg_dispatch_latency_seconds',
      help: "Time from a task becoming claimable (its available_at) to its assignment to a runner (assigned_at), on the database's clock: queue wait plus dispatch.",
      buckets: DISPATCH_BUCKETS,
      registers,
    });
    this.taskDuration = new Histogram({
      name: 'borg_task_duration_seconds',
      help: 'Time from a task reported running to its end, by final status (observed by the replica that recorded the end).',
      labelNames: ['status'],
      buckets: TASK_BUCKETS,
      registers,
    });
    this.eventLag = new Histogram({
      name: 'borg_event_bus_lag_seconds',
      help: "Time from an event's publish on another replica to its delivery here (LISTEN/NOTIFY; wall clocks, so keep replicas on NTP).",
      buckets: EVENT_LAG_BUCKETS,
      registers,
    });
    this.retentionCounter = new Counter({
      name: 'borg_retention_deleted_total',
      help: 'What retention deleted (the sweep and DELETE /jobs/:id), by kind: jobs, artifacts, files (unused uploads), runners (retired), blobs (bytes freed in storage).',
      labelNames: ['kind'],
      registers,
    });
    this.liveGauge('borg_websocket_clients', 'WebSocket connections open on this replica.', () =>
      this.live.websocketClients(),
    );
    this.liveGauge('borg_long_poll_waiting', 'Runner long-polls waiting for work on this replica.', () =>
      this.live.longPollWaiters(),
    );
    this.liveGauge(
      'borg_maintenance_leader',
      '1 if this replica holds the maintenance lock (reaper, timeouts, retry clock), else 0.',
      () => (this.live.maintenanceLeader() ? 1 : 0),
    );
    new DatabaseGauges(db, this.registry, options.cacheMs ?? 5_000);
  }

  /** Hooks up the in-memory figures once the objects that hold them exist. */
  track(sources: Partial<LiveSources>): void {
    this.live = { ...this.live, ...sources };
  }

  /** QueueObserver: tasks were assigned to a runner. */
  claimed(tasks: readonly TaskRow[]): void {
    for (const task of tasks) {
      if (!task.assigned_at) continue;
      this.dispatchLatency.observe(Math.max(0, (+task.assigned_at - +task.available_at) / 1000));
    }
  }

  /** QueueObserver: a task reached a final state. Tasks that never ran have no duration. */
  ended(task: TaskRow): void {
    if (!task.started_at || !task.completed_at) return;
    this.taskDuration.observe({ status: task.status }, Math.max(0, (+task.completed_at - +task.started_at) / 1000));
  }

  /** An event from another replica arrived `seconds` after it was published. */
  eventDelivered(seconds: number): void {
    this.eventLag.observe(Math.max(0, seconds));
  }

  /** Retention deleted these, by kind. */
  retentionDeleted(counts: Readonly<Record<string, number>>): void {
    for (const [kind, count] of Object.entries(counts)) if (count > 0) this.retentionCounter.inc({ kind }, count);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: this app's metrics, then the process's. */
  async render(): Promise<string> {
    const [own, process] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${own}\n${process}`;
  }

  private liveGauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}
