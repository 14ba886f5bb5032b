import type { Logger } from 'pino';

import type { Database } from '../db/database.ts';
import type { EventBus } from '../events/event-bus.ts';
import { CronSchedule, planFires } from './cron-schedule.ts';
import { scheduleFireStore } from './schedule-fire-store.ts';
import type { ScheduleFirer } from './schedule-firer.ts';
import { type ClaimedSchedule, scheduleStore } from './schedule-store.ts';

export interface SchedulerOptions {
  /** A slot at most this late still fires; an older one was missed, and catch_up decides. */
  misfireGraceSeconds: number;
}

/** Schedules claimed per statement; a round claims again while it gets full batches. */
const CLAIM_BATCH = 16;
/** How long a claim holds a schedule; a replica that dies holding one delays its next fire this long. */
const CLAIM_LEASE_SECONDS = 30;
/** Slots one claim fires at most (a per-second cron after a stall); the rest stay due. */
const MAX_FIRES_PER_CLAIM = 20;
/** The longest sleep: a missed event or another replica's lapsed claim is noticed within it. */
const MAX_SLEEP_MS = 30_000;

/**
 * Fires due schedules. Every replica runs one: it sleeps until the earliest next fire (a timer,
 * re-armed whenever a schedule changes here or, through the event bus, on another replica),
 * then claims due schedules (FOR UPDATE SKIP LOCKED, so replicas share them), fires their slots
 * and moves their next fire on. A slot fired twice (a claim that lapsed while its holder was
 * still at work, a restart between a job's insert and the release) still gives one job: the
 * jobs' unique key on (schedule_id, scheduled_for) decides.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wakeAgain = false;
  private failures = 0;
  private stopped = true;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly db: Database,
    private readonly firer: ScheduleFirer,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly options: SchedulerOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.bus.on('schedules.changed', () => this.wake());
    this.wake();
  }

  /** Stops the timer and waits for a round in progress (it releases what it claimed). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running;
  }

  /** Runs a round now (or right after the one in progress): a schedule changed. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeAgain = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.round().then((sleepMs) => {
      this.running = undefined;
      if (this.wakeAgain) {
        this.wakeAgain = false;
        this.wake();
      } else if (!this.stopped) {
        this.timer = setTimeout(() => this.wake(), sleepMs);
      }
    });
  }

  /** One round: fires everything due, then says how long to sleep. Never rejects. */
  private async round(): Promise<number> {
    try {
      let claimed: ClaimedSchedule[];
      do {
        claimed = await scheduleStore.claimDue(this.db, CLAIM_BATCH, CLAIM_LEASE_SECONDS);
        for (const claim of claimed) await this.fireClaimed(claim);
      } while (claimed.length === CLAIM_BATCH && !this.stopped);
      this.failures = 0;
      const ms = await scheduleStore.msUntilNextDue(this.db);
      return ms === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, Math.ceil(ms)));
    } catch (error) {
      // A claim left behind lapses after CLAIM_LEASE_SECONDS; its slots fire then, once.
      this.failures++;
      this.log.warn({ err: error }, 'scheduler round failed; trying again shortly');
      return Math.min(MAX_SLEEP_MS, 250 * 2 ** Math.min(this.failures, 7));
    }
  }

  private async fireClaimed(claim: ClaimedSchedule): Promise<void> {
    let cron: CronSchedule;
    try {
      cron = CronSchedule.parse(claim.cron, claim.timezone);
    } catch (error) {
      // Checked when it was stored; only a change of croner's rules could get here. Stop it.
      this.log.error({ err: error, schedule_id: claim.id }, 'a schedule cron no longer parses; it fires no more');
      await scheduleStore.release(this.db, claim, null);
      return;
    }
    const plan = planFires(cron, {
      nextFireAt: claim.next_fire_at,
      now: claim.db_now,
      catchUp: claim.catch_up,
      graceMs: this.options.misfireGraceSeconds * 1000,
      maxFires: MAX_FIRES_PER_CLAIM,
    });
    if (plan.missed) await this.firer.recordMissed(claim, plan.missed);
    for (const slot of plan.fire) await this.firer.fire(claim, slot, 'cron');
    if (await scheduleStore.release(this.db, claim, plan.next)) {
      await scheduleFireStore.prune(this.db, claim.id);
      // Other replicas' timers may be set to this claim's end: they re-arm for the new next fire.
      this.bus.publish({ type: 'schedules.changed', schedule_id: claim.id });
    }
  }
}
