import type { JobType, NextTasksResponse } from '@borg/protocol';

import type { Database } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import type { EventBus, EventOf } from '../events/event-bus.ts';
import { runnerStore } from '../runners/runner-store.ts';
import type { Queue } from './queue.ts';

interface Waiter {
  runnerId: string;
  /** null until read (right after the waiter is registered); a wake-up meanwhile tries a claim. */
  labels: Record<string, string> | null;
  max: number;
  /** The job types the runner takes (--job-types); null: every type. Every claim made for it passes them. */
  jobTypes: readonly JobType[] | null;
  /** Sequence number of the last wake-up this waiter tried to claim for. */
  triedSeq: number;
  claiming: boolean;
  /** A wake-up arrived while a claim was in flight: try once more when it ends. */
  again: boolean;
  /** The wait timed out during a claim: finish when the claim ends. */
  expired?: boolean;
  finish(response: NextTasksResponse | null): void;
}

/** Extra claim attempts one wake-up may cause beyond its task count, when woken runners come back empty. */
const BATON_BUDGET = 8;
/**
 * Long-polls one runner may have waiting at once; a further one ends the oldest (with nothing,
 * 204), so a runner token cannot park connections without bound. A solder holds one; a
 * reconnecting one briefly two.
 */
export const MAX_LONG_POLLS_PER_RUNNER = 4;

export interface DispatcherOptions {
  /**
   * New long-polls are refused (503 OVERLOADED, Retry-After) while this many queries wait for a
   * database connection: heartbeats and reports keep the connections, and runners come back
   * spread over the next seconds. 0: never shed.
   */
  shedLongPollsAtWaiting: number;
  /**
   * Told each time a long-poll is shed: while the mothership cannot keep up, a runner's silence
   * may be its own (heartbeats wait for connections too), and the reaper must not read it as the
   * runner gone.
   */
  onOverload?: () => void;
}

/**
 * Long-polling for `GET /runners/:id/tasks/next?wait=…`. A runner with nothing to claim waits
 * here, costing nothing, until the event bus says tasks became claimable (a submit, a resume,
 * a retry, on this replica or another) or one of its tasks is cancelled.
 *
 * A wake-up for n tasks that need labels L (of job type T) wakes the n longest-waiting runners
 * carrying L (and taking T, see --job-types), not every runner: with 10,000 idle runners a submit costs one claim, not 10,000. A woken runner
 * that comes back empty (another replica's runner was faster, or it is full) hands the wake-up
 * to the next one, within a small budget.
 */
export class Dispatcher {
  /** Insertion order is waiting order: the longest waiter is woken first. */
  private readonly waiters = new Set<Waiter>();
  /** Each runner's waiting long-polls, oldest first. */
  private readonly byRunner = new Map<string, Waiter[]>();
  private wakeSeq = 0;
  private readonly unsubscribe: Array<() => void>;
  /** Long-polls refused since the last warning about it. */
  private shed = 0;
  private lastShedWarning = 0;

  constructor(
    private readonly db: Database,
    private readonly queue: Queue,
    bus: EventBus,
    private readonly options: DispatcherOptions = { shedLongPollsAtWaiting: 0 },
    private readonly warn: (message: string, count: number) => void = () => undefined,
  ) {
    this.unsubscribe = [
      bus.on('tasks.available', (event) => this.wake(event)),
      bus.on('task.cancel_requested', (event) => this.tellCancel(event)),
    ];
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Waiters whose first read is done and that have no claim in flight: a task that becomes
   * claimable now reaches them only through a wake-up (tests wait on this before they submit).
   */
  get parked(): number {
    let parked = 0;
    for (const waiter of this.waiters) if (waiter.labels !== null && !waiter.claiming) parked++;
    return parked;
  }

  /**
   * Claims at once if it can; otherwise waits up to `waitSeconds`. Returns null when nothing
   * came (the route answers 204).
   */
  async next(
    runnerId: string,
    max: number,
    waitSeconds: number,
    signal?: AbortSignal,
    jobTypes?: readonly JobType[],
  ): Promise<NextTasksResponse | null> {
    // A runner that already hung up gets nothing claimed for it: no one would receive it.
    if (signal?.aborted) return null;
    if (waitSeconds > 0) this.shedWhenOverloaded(waitSeconds);
    if (waitSeconds <= 0) {
      const { items, cancelTaskIds } = await this.queue.claim(runnerId, max, jobTypes);
      const cancels = items.length > 0 ? cancelTaskIds : await this.queue.cancelRequestsOf(runnerId);
      return items.length > 0 || cancels.length > 0 ? { items, cancel_task_ids: cancels } : null;
    }

    return new Promise<NextTasksResponse | null>((resolve, reject) => {
      const waiter: Waiter = {
        runnerId,
        labels: null,
        max,
        jobTypes: jobTypes ?? null,
        triedSeq: -1,
        claiming: false,
        again: false,
        finish: (response) => {
          if (!this.waiters.delete(waiter)) return; // already finished
          this.forget(waiter);
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(response);
        },
      };
      // A wait that ends while a claim is in flight ends when the claim does, so claimed
      // tasks are always handed over rather than left assigned to a runner that never heard.
      const onTimeout = () => (waiter.claiming ? (waiter.expired = true) : waiter.finish(null));
      const onAbort = () => waiter.finish(null);
      // Registered before the first claim, so a submit landing during that claim is not missed.
      this.waiters.add(waiter);
      this.remember(waiter);
      const timer = setTimeout(onTimeout, waitSeconds * 1000);
      signal?.addEventListener('abort', onAbort, { once: true });

      // Cancels requested before this call are answered by heartbeats and status replies; a
      // long-poll returns early only for new ones, so a runner never spins on an old cancel.
      // One read after registering: the runner's labels, and whether anything at all is
      // claimable. With nothing claimable (an idle fleet renewing its polls) the claim's
      // transaction is skipped: a task that becomes claimable from now on wakes this waiter,
      // which is already registered. An idle renewal is one round trip, so renewals do not take
      // the connections that heartbeats need.
      const seq = this.wakeSeq;
      runnerStore
        .forLongPoll(this.db, runnerId)
        .then(async (found): Promise<void> => {
          if (!found) return waiter.finish(null);
          waiter.labels = found.labels;
          if (found.claimable && this.waiters.has(waiter)) await this.tryClaim(waiter, seq);
        })
        .catch((error: unknown) => {
          if (this.waiters.delete(waiter)) {
            this.forget(waiter);
            clearTimeout(timer);
            reject(error);
          }
        });
    });
  }

  /**
   * Refuses a new long-poll while queries queue for database connections (see DispatcherOptions).
   * The runner is told to come back after about the wait it asked for (half of it to all of it,
   * at least a second): a shed runner then costs the server what a waiting one costs, one request
   * per wait. Sooner, a whole fleet being shed comes back many times a wait, and that traffic
   * takes the connections and the CPU its heartbeats need.
   */
  private shedWhenOverloaded(waitSeconds: number): void {
    const threshold = this.options.shedLongPollsAtWaiting;
    const waiting = this.db.waitingForConnection?.() ?? 0;
    if (threshold <= 0 || waiting < threshold) return;
    this.options.onOverload?.();
    this.shed++;
    if (performance.now() - this.lastShedWarning > 10_000) {
      this.lastShedWarning = performance.now();
      this.warn('long-polls refused while queries wait for database connections', this.shed);
      this.shed = 0;
    }
    throw new BorgError('OVERLOADED', 'the mothership is busy: come back after Retry-After', {
      retry_after_seconds: Math.max(1, Math.ceil(waitSeconds * (0.5 + Math.random() / 2))),
    });
  }

  /** Adds a runner's long-poll; past MAX_LONG_POLLS_PER_RUNNER the oldest ends with nothing. */
  private remember(waiter: Waiter): void {
    const list = this.byRunner.get(waiter.runnerId) ?? [];
    list.push(waiter);
    this.byRunner.set(waiter.runnerId, list);
    if (list.length > MAX_LONG_POLLS_PER_RUNNER) list[0]!.finish(null);
  }

  private forget(waiter: Waiter): void {
    const list = this.byRunner.get(waiter.runnerId);
    if (!list) return;
    const rest = list.filter((w) => w !== waiter);
    if (rest.length === 0) this.byRunner.delete(waiter.runnerId);
    else this.byRunner.set(waiter.runnerId, rest);
  }

  /** Ends every wait with "nothing" (shutdown). */
  close(): void {
    for (const waiter of [...this.waiters]) waiter.finish(null);
    for (const off of this.unsubscribe) off();
  }

  private wake(event: EventOf<'tasks.available'>): void {
    const seq = ++this.wakeSeq;
    let budget = event.count === null ? Infinity : event.count;
    const eligible = (w: Waiter) =>
      w.max > 0 &&
      (!event.runnerId || w.runnerId === event.runnerId) &&
      (!event.labels || w.labels === null || carries(w.labels, event.labels)) &&
      (!event.jobType || w.jobTypes === null || w.jobTypes.includes(event.jobType));
    let extra = event.count === null ? Infinity : BATON_BUDGET;

    const handOn = () => {
      if (extra-- <= 0) return;
      const next = [...this.waiters].find((w) => eligible(w) && w.triedSeq < seq && !w.claiming);
      if (next) void this.claimFor(next, seq, handOn);
    };

    for (const waiter of [...this.waiters]) {
      if (budget <= 0) break;
      if (!eligible(waiter)) continue;
      budget--;
      void this.claimFor(waiter, seq, handOn);
    }
  }

  private async claimFor(waiter: Waiter, seq: number, handOn: () => void): Promise<void> {
    try {
      const claimed = await this.tryClaim(waiter, seq);
      if (!claimed && this.waiters.has(waiter)) handOn();
    } catch {
      // The database is unreachable: leave the runner waiting; its wait ends on time.
    }
  }

  /** One claim attempt for a waiter; a wake-up during it triggers one more after it. */
  private async tryClaim(waiter: Waiter, seq: number): Promise<boolean> {
    if (waiter.claiming) {
      waiter.again = true;
      return false;
    }
    waiter.claiming = true;
    try {
      for (;;) {
        waiter.again = false;
        waiter.triedSeq = Math.max(waiter.triedSeq, seq);
        const { items, cancelTaskIds } = await this.queue.claim(
          waiter.runnerId,
          waiter.max,
          waiter.jobTypes ?? undefined,
        );
        if (items.length > 0) {
          if (!this.waiters.has(waiter)) {
            // The runner hung up while we claimed: put the tasks back, unseen and unspent.
            await this.queue.release(
              waiter.runnerId,
              items.map((t) => t.id),
            );
            return false;
          }
          waiter.finish({ items, cancel_task_ids: cancelTaskIds });
          return true;
        }
        if (waiter.expired) {
          waiter.finish(null);
          return false;
        }
        if (!waiter.again || !this.waiters.has(waiter)) break;
      }
      // Back of the line: the next wake-up goes to runners that have waited longer.
      if (this.waiters.delete(waiter)) this.waiters.add(waiter);
      return false;
    } finally {
      waiter.claiming = false;
    }
  }

  private tellCancel(event: EventOf<'task.cancel_requested'>): void {
    const waiting = [...this.waiters].filter((w) => w.runnerId === event.runner_id);
    if (waiting.length === 0) return;
    this.queue
      .cancelRequestsOf(event.runner_id)
      .then((ids) => {
        const cancels = [...new Set([event.task_id, ...ids])];
        for (const waiter of waiting) waiter.finish({ items: [], cancel_task_ids: cancels });
      })
      .catch(() => undefined);
  }
}

function carries(runnerLabels: Record<string, string>, required: Record<string, string>): boolean {
  return Object.entries(required).every(([key, value]) => runnerLabels[key] === value);
}
