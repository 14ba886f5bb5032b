import type { ScheduleFireOutcome, ScheduleFireTrigger } from '@borg/protocol';
import { Counter, Gauge, type Registry } from 'prom-client';

import type { Database } from '../db/database.ts';
import { scheduleFireStore } from '../schedules/schedule-fire-store.ts';
import type { ScheduleFireObserver } from '../schedules/schedule-firer.ts';

/** Schedules reported one by one; more than this shows the first by name. */
export const MAX_SCHEDULE_SERIES = 1_000;

/**
 * Schedules in /metrics: fires by outcome (counted by the replica that fired them: sum() them),
 * and per schedule how late its latest cron fire's job was created (from the database, so the
 * same on every replica: max() them). The lateness is read at most once per `cacheMs`.
 */
export class ScheduleMetrics implements ScheduleFireObserver {
  private readonly fires: Counter<'outcome' | 'trigger'>;
  private cached: { at: number; rows: Promise<{ id: string; name: string; seconds: number }[]> } | undefined;

  constructor(
    private readonly db: Database,
    registry: Registry,
    private readonly cacheMs = 5_000,
  ) {
    this.fires = new Counter({
      name: 'borg_schedule_fires_total',
      help: 'Schedule fires by outcome (created, skipped, failed) and trigger (cron, manual), on this replica.',
      labelNames: ['outcome', 'trigger'],
      registers: [registry],
    });
    const read = () => this.lateness();
    new Gauge({
      name: 'borg_schedule_last_fire_lateness_seconds',
      help: "Seconds from a schedule's latest cron slot to the creation of its job (whole cluster), per schedule.",
      labelNames: ['schedule', 'name'],
      registers: [registry],
      async collect() {
        const rows = await read();
        this.reset(); // a deleted schedule must not linger at its last value
        for (const row of rows) this.set({ schedule: row.id, name: row.name }, row.seconds);
      },
    });
  }

  scheduleFired(outcome: ScheduleFireOutcome, trigger: ScheduleFireTrigger): void {
    this.fires.inc({ outcome, trigger });
  }

  private lateness(): Promise<{ id: string; name: string; seconds: number }[]> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at >= this.cacheMs) {
      // A database that does not answer shows no series (borg_database_up says why).
      const rows = scheduleFireStore.lastLateness(this.db, MAX_SCHEDULE_SERIES).catch(() => []);
      this.cached = { at: now, rows };
    }
    return this.cached.rows;
  }
}
