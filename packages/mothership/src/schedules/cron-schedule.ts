import type { ScheduleCatchUp } from '@borg/protocol';
import { Cron } from 'croner';

import { BorgError } from '../errors.ts';

/** A slot whose fire would loop longer than this in one plan is looked at in the next one. */
const MAX_SLOTS_COUNTED = 1_000;

/**
 * A cron expression in a time zone, read by croner: 5 fields (minute precision) or 6 (seconds
 * first), or a nickname (`@daily`). Slots are whole seconds. Around a DST change croner's rules
 * hold: a fixed time that does not exist that day (02:30 when clocks jump from 02:00 to 03:00)
 * fires at the first time after the gap, and one that occurs twice fires once, at its first
 * occurrence; intervals (every 30 minutes) keep running through both.
 */
export class CronSchedule {
  private constructor(private readonly cron: Cron) {}

  /** Checks both; a bad one is a 400 that says what is wrong with it. */
  static parse(expression: string, timezone: string): CronSchedule {
    let cron: Cron;
    try {
      cron = new Cron(expression, { timezone, mode: '5-or-6-parts', paused: true });
    } catch (error) {
      throw new BorgError('VALIDATION_FAILED', `cron "${expression}" is not valid: ${cronProblem(error)}`, {
        field: 'cron',
      });
    }
    const schedule = new CronSchedule(cron);
    if (schedule.nextAfter(new Date()) === null) {
      throw new BorgError('VALIDATION_FAILED', `cron "${expression}" never fires (no such date, e.g. 30 February)`, {
        field: 'cron',
      });
    }
    return schedule;
  }

  /** The first slot strictly after `time`; null when there is none left. */
  nextAfter(time: Date): Date | null {
    return this.cron.nextRun(time);
  }

  /** The latest slot at or before `time`; null when there is none. */
  latestAtOrBefore(time: Date): Date | null {
    // croner drops a reference's milliseconds and looks strictly before it; slots are whole
    // seconds, so "at or before t" is "strictly before the second after t's".
    return this.cron.previousRuns(1, new Date(Math.floor(time.getTime() / 1000) * 1000 + 1000))[0] ?? null;
  }

  /** The next `count` slots after `time`. */
  nextSlots(count: number, time: Date): Date[] {
    return this.cron.nextRuns(count, time);
  }
}

/**
 * A time zone as IANA names it (`Europe/Berlin`, `UTC`), in its canonical spelling. An offset
 * (`+01:00`) is refused: it has no DST rules, and croner does not take it.
 */
export function canonicalTimeZone(name: string): string {
  if (/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name)) {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    } catch {
      // fall through to the refusal
    }
  }
  throw new BorgError(
    'VALIDATION_FAILED',
    `timezone "${name}" is not an IANA time zone name (such as "UTC", "Europe/Berlin" or "America/New_York")`,
    { field: 'timezone' },
  );
}

function cronProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // croner prefixes its messages with the class that threw them.
  return message.replace(/^Cron(Pattern|Date)?:\s*/, '');
}

export interface FirePlanInput {
  /** The earliest slot not fired yet (the schedule's next_fire_at). */
  nextFireAt: Date;
  /** The database's clock. */
  now: Date;
  catchUp: ScheduleCatchUp;
  /**
   * A slot at most this old is late, not missed: it fires. Older ones were missed (no scheduler
   * ran then) and catch_up decides.
   */
  graceMs: number;
  /** The most slots one plan fires; the rest are left due for the next round. */
  maxFires: number;
}

export interface FirePlan {
  /** The slots to fire now, oldest first. */
  fire: Date[];
  /** Slots passed over as missed; null when none were, or when catch_up last fired the latest of them. */
  missed: { count: number; countCapped: boolean; first: Date; last: Date } | null;
  /** The schedule's next_fire_at after these fires; null when the cron has no slot left. */
  next: Date | null;
}

/**
 * Which due slots of a schedule fire now. Slots older than the grace were missed: with
 * catch_up `none` none of them fires, with `last` only the latest does, and only when no slot
 * within the grace fires anyway. Every slot within the grace fires (a scheduler that was a few
 * seconds late skips nothing), up to maxFires per plan.
 */
export function planFires(schedule: CronSchedule, input: FirePlanInput): FirePlan {
  const { nextFireAt, now, catchUp, maxFires } = input;
  // On whole seconds, like the slots: a slot before `cut` is missed, one at or after it is late.
  const cut = new Date(Math.ceil((now.getTime() - input.graceMs) / 1000) * 1000);

  let missed: FirePlan['missed'] = null;
  if (nextFireAt < cut) {
    const last = schedule.latestAtOrBefore(new Date(cut.getTime() - 1000));
    if (last && last >= nextFireAt) {
      let count = 0;
      for (let slot: Date | null = nextFireAt; slot && slot <= last && count < MAX_SLOTS_COUNTED; count++) {
        slot = schedule.nextAfter(slot);
      }
      missed = { count, countCapped: count === MAX_SLOTS_COUNTED, first: nextFireAt, last };
    }
  }

  const fire: Date[] = [];
  let slot: Date | null = nextFireAt >= cut ? nextFireAt : schedule.nextAfter(new Date(cut.getTime() - 1000));
  while (slot && slot <= now && fire.length < maxFires) {
    fire.push(slot);
    slot = schedule.nextAfter(slot);
  }
  if (catchUp === 'last' && missed && fire.length === 0) {
    fire.push(missed.last);
    missed = null;
  }
  const full = fire.length >= maxFires && slot !== null && slot <= now;
  return { fire, missed, next: full ? slot : schedule.nextAfter(now) };
}
