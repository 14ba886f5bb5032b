import type { Logger } from 'pino';

import { type Database, LOCK_KEYS, type SessionLock } from '../db/database.ts';
import type { DatabaseHealth } from '../db/database-health.ts';
import type { EventBus } from '../events/event-bus.ts';
import { downstreamEvents, refreshJob } from '../jobs/job-refresh.ts';
import { jobStore } from '../jobs/job-store.ts';
import { jobViews } from '../jobs/job-views.ts';
import { taskStore } from '../jobs/task-store.ts';
import { runnerStore } from '../runners/runner-store.ts';
import type { Queue } from './queue.ts';

export interface MaintenanceOptions {
  heartbeatIntervalSeconds: number;
  /** How often the leader looks for work; short enough that a retry backoff ending is noticed promptly. */
  tickMs: number;
}

/** Runners silent for this many heartbeat intervals are offline, and their tasks lost. */
export const MISSED_HEARTBEATS_BEFORE_OFFLINE = 3;
/** Every few seconds the leader nudges waiting runners if claimable work is sitting idle (a missed event). */
const STALE_QUEUE_NUDGE_MS = 5_000;

/**
 * The server's own decisions, taken by one replica at a time (the holder of an advisory lock):
 * - the reaper: runners silent for 3 heartbeat intervals go offline; their tasks become lost
 *   and are retried while attempts remain;
 * - the timeout backstop: held tasks past timeout_seconds plus one heartbeat interval of grace
 *   (the solder enforces the timeout first) are ended as timed_out;
 * - the retry clock: tasks whose backoff ended are announced to waiting runners.
 *
 * After start-up, after taking the lead, and after any database failure it waits one offline
 * window (3 intervals) before ending anything: the silence may have been ours, and every runner
 * must get a full window to check in again.
 */
export class Maintenance {
  private lock: SessionLock | null = null;
  private leaderSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastAvailabilityCheck: Date | null = null;
  private lastNudge = 0;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly queue: Queue,
    private readonly bus: EventBus,
    private readonly health: DatabaseHealth,
    private readonly log: Logger,
    private readonly options: MaintenanceOptions,
  ) {}

  get isLeader(): boolean {
    return this.lock !== null;
  }

  private get offlineAfterSeconds(): number {
    return this.options.heartbeatIntervalSeconds * MISSED_HEARTBEATS_BEFORE_OFFLINE;
  }

  start(): void {
    let due = performance.now();
    const loop = () => {
      if (this.stopped) return;
      // A timer that fires a heartbeat interval late means this process was stalled (its event
      // loop blocked, the machine starved): heartbeats went unread meanwhile, so the silence is ours.
      if (performance.now() - due > this.options.heartbeatIntervalSeconds * 1000) {
        this.health.noteFailure();
        this.log.warn('the mothership was stalled; reaping waits one offline window');
      }
      this.running = this.tick().finally(() => {
        if (this.stopped) return;
        due = performance.now() + this.options.tickMs;
        this.timer = setTimeout(loop, this.options.tickMs);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.lock?.release();
    this.lock = null;
  }

  /** One round of maintenance; exposed so tests can drive it step by step. */
  async tick(): Promise<void> {
    try {
      const started = performance.now();
      if (!(await this.lead())) return;
      await this.announceAvailableTasks();
      // A round that took longer than a heartbeat interval met a stalled database (frozen,
      // failing over): the heartbeats of that time may be queued behind it, so the silence is
      // ours, as after a failure. Nothing is reaped for a window.
      if (performance.now() - started > this.options.heartbeatIntervalSeconds * 1000) {
        this.health.noteFailure();
        this.log.warn('the database stalled during a maintenance round; reaping waits one offline window');
      }
      if (this.inGracePeriod()) return;
      await this.reapSilentRunners();
      await this.enforceTimeouts();
    } catch (error) {
      this.health.noteFailure();
      this.log.warn({ err: error }, 'maintenance round failed; retrying next tick');
    }
  }

  inGracePeriod(): boolean {
    const graceMs = this.offlineAfterSeconds * 1000;
    const now = performance.now();
    return now - this.leaderSince < graceMs || this.health.msSinceFailure() < graceMs;
  }

  private async lead(): Promise<boolean> {
    if (this.lock) return true;
    const lock = await this.db.tryAcquireSessionLock(LOCK_KEYS.maintenance);
    if (!lock) return false;
    this.lock = lock;
    this.leaderSince = performance.now();
    this.log.info('this replica now runs maintenance (reaper, timeouts, retry clock)');
    void lock.lost.then(() => {
      if (this.lock !== lock) return;
      this.lock = null;
      this.health.noteFailure();
      this.log.warn('lost the maintenance lock (database session ended); another replica may take over');
    });
    return true;
  }

  private async reapSilentRunners(): Promise<void> {
    const offline = await runnerStore.markSilentOffline(this.db, this.offlineAfterSeconds);
    if (offline.length > 0) {
      this.log.warn({ runners: offline }, 'runners missed 3 heartbeats and are now offline');
      for (const runner of await runnerStore.getMany(this.db, offline)) {
        this.bus.publish({ type: 'runner.updated', runner });
      }
    }
    for (const task of await taskStore.heldByOfflineRunners(this.db)) {
      await this.queue.endTaskByServer(task.id, {
        status: 'lost',
        reason: 'runner_lost',
        error: 'the runner stopped sending heartbeats',
      });
    }
  }

  private async enforceTimeouts(): Promise<void> {
    for (const task of await taskStore.pastDeadline(this.db, this.options.heartbeatIntervalSeconds)) {
      await this.queue.endTaskByServer(task.id, {
        status: 'timed_out',
        reason: 'server_timeout',
        error: 'the task ran past timeout_seconds and its runner did not stop it',
      });
    }
  }

  /**
   * Every task ending refreshes its job after its own commit (queue.ts, refreshAfterEnding).
   * If that refresh fails (a database fault, a crash), the job would stay `running` with every
   * task ended, for ever. This sweep ends it.
   */
  private async finishUnmarkedJobs(): Promise<void> {
    for (const id of await jobStore.endedButNotMarked(this.db)) {
      const refreshed = await this.db.transaction(async (tx) =>
        (await jobStore.get(tx, id, { lock: true })) ? refreshJob(tx, id) : null,
      );
      if (refreshed?.job.completed_at) {
        this.log.warn({ job_id: id }, 'a job had ended without its status being updated; updated now');
        this.bus.publishAll([
          { type: 'job.updated', job: await jobViews.one(this.db, refreshed.job) },
          ...(await downstreamEvents(this.db, refreshed.downstream)),
        ]);
      }
    }
  }

  /** Wakes waiting runners for tasks whose retry backoff ended since the last round. */
  private async announceAvailableTasks(): Promise<void> {
    const { now, count: n } = await taskStore.countBecameAvailableSince(this.db, this.lastAvailabilityCheck);
    this.lastAvailabilityCheck = now;
    if (n > 0) this.bus.publish({ type: 'tasks.available', count: n, labels: null });

    if (performance.now() - this.lastNudge >= STALE_QUEUE_NUDGE_MS) {
      this.lastNudge = performance.now();
      await this.finishUnmarkedJobs();
      const { depth, oldestSeconds } = await taskStore.queueDepth(this.db);
      if (depth > 0 && oldestSeconds * 1000 >= STALE_QUEUE_NUDGE_MS) {
        this.bus.publish({ type: 'tasks.available', count: Math.min(depth, 64), labels: null });
      }
    }
  }
}
