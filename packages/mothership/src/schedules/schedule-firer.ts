import { CreateJobRequest, type Job, type ScheduleFireOutcome, type ScheduleFireTrigger } from '@borg/protocol';
import type { Logger } from 'pino';

import type { Principal } from '../auth/principal.ts';
import { tokenStore } from '../auth/token-store.ts';
import type { Database } from '../db/database.ts';
import { isDatabaseUnavailable } from '../db/database-health.ts';
import { BorgError } from '../errors.ts';
import type { JobActions } from '../jobs/job-actions.ts';
import { scheduleFireStore } from './schedule-fire-store.ts';
import type { ScheduleRow } from './schedule-store.ts';

/** Told of every fire, by outcome (the /metrics counter). */
export interface ScheduleFireObserver {
  scheduleFired(outcome: ScheduleFireOutcome, trigger: ScheduleFireTrigger): void;
}

export type FireResult =
  { outcome: 'created'; job: Job } | { outcome: 'skipped' | 'failed'; reason: string; error?: BorgError };

/**
 * Fires one slot of a schedule: submits its job through the same path as POST /jobs
 * (JobActions.createJob, so checks, wake-ups and events are the same), as the schedule's creator,
 * and records what became of the slot. A fire that cannot create its job (a secret deleted
 * since, a file gone, the creator's token revoked) is recorded as failed with the reason and the
 * schedule moves on: only a database that does not answer makes it throw, to be tried again.
 */
export class ScheduleFirer {
  constructor(
    private readonly db: Database,
    private readonly jobs: JobActions,
    private readonly observer: ScheduleFireObserver,
    private readonly log: Logger,
  ) {}

  async fire(schedule: ScheduleRow, slot: Date, trigger: ScheduleFireTrigger): Promise<FireResult> {
    const result = await this.attempt(schedule, slot, trigger);
    await scheduleFireStore.record(this.db, {
      scheduleId: schedule.id,
      scheduledFor: slot,
      trigger,
      outcome: result.outcome,
      jobId: result.outcome === 'created' ? result.job.id : null,
      reason: result.outcome === 'created' ? null : result.reason,
    });
    this.observer.scheduleFired(result.outcome, trigger);
    if (result.outcome === 'failed') {
      this.log.warn({ schedule_id: schedule.id, slot, reason: result.reason }, 'a schedule could not submit its job');
    }
    return result;
  }

  /** Records a run of missed slots as one skipped fire, at the latest of them. */
  async recordMissed(schedule: ScheduleRow, missed: { count: number; countCapped: boolean; first: Date; last: Date }) {
    const slots = missed.count === 1 ? 'this slot' : `${missed.countCapped ? 'more than ' : ''}${missed.count} slots`;
    const since = missed.count === 1 ? '' : ` (from ${missed.first.toISOString()})`;
    await scheduleFireStore.record(this.db, {
      scheduleId: schedule.id,
      scheduledFor: missed.last,
      trigger: 'cron',
      outcome: 'skipped',
      jobId: null,
      reason: `missed ${slots}${since}: no mothership was running then (catch_up: ${schedule.catch_up})`,
    });
    this.observer.scheduleFired('skipped', 'cron');
  }

  private async attempt(schedule: ScheduleRow, slot: Date, trigger: ScheduleFireTrigger): Promise<FireResult> {
    try {
      const submitter = await this.creatorOf(schedule);
      // Stored specs are read again by today's rules: defaults added since apply, and a spec that
      // no longer passes is a failed fire, not a crash.
      const spec = CreateJobRequest.safeParse(schedule.job);
      if (!spec.success) {
        const issue = spec.error.issues[0];
        return failed(new BorgError('VALIDATION_FAILED', `job.${issue?.path.join('.')}: ${issue?.message}`));
      }
      // A manual trigger is a person asking: it runs whatever overlap says.
      if (trigger === 'cron' && schedule.overlap !== 'allow') {
        const unended = (await scheduleFireStore.unendedJobs(this.db, schedule.id)).filter(
          (job) => job.scheduled_for.getTime() !== slot.getTime(),
        );
        const first = unended[0];
        if (first && schedule.overlap === 'skip') {
          return {
            outcome: 'skipped',
            reason: `job ${first.id} (for ${first.scheduled_for.toISOString()}) has not ended (overlap: skip)`,
          };
        }
        for (const job of unended) await this.cancel(job.id, submitter);
      }
      const { job } = await this.jobs.createJob(spec.data, submitter, undefined, {
        scheduleId: schedule.id,
        scheduledFor: slot,
      });
      return { outcome: 'created', job };
    } catch (error) {
      if (isTransient(error)) throw error;
      if (error instanceof BorgError) return failed(error);
      this.log.error({ err: error, schedule_id: schedule.id }, 'a schedule fire failed unexpectedly');
      return failed(new BorgError('INTERNAL', `internal error: ${(error as Error)?.message ?? String(error)}`));
    }
  }

  /**
   * A schedule submits its jobs as the token that created it, and only while that token is
   * valid: revoking a person's token also stops the schedules they left behind.
   */
  private async creatorOf(schedule: ScheduleRow): Promise<Principal> {
    const tokenId = schedule.created_by_token_id;
    const name = schedule.created_by_name ?? 'a deleted token';
    if (tokenId === null || !(await tokenStore.stillActive(this.db, [tokenId])).has(tokenId)) {
      throw new BorgError(
        'FORBIDDEN',
        `the token that created this schedule ("${name}") is revoked or expired, and a schedule submits its jobs as its creator: create the schedule again with a valid token`,
      );
    }
    return { kind: 'user', tokenId, name, runnerId: null, role: null };
  }

  /** overlap: cancel_running. A job that ended meanwhile needs no cancel. */
  private async cancel(jobId: string, submitter: Principal): Promise<void> {
    try {
      await this.jobs.cancelJob(jobId, submitter);
    } catch (error) {
      if (error instanceof BorgError && (error.code === 'ILLEGAL_TRANSITION' || error.code === 'JOB_NOT_FOUND')) return;
      throw error;
    }
  }
}

function failed(error: BorgError): FireResult {
  return { outcome: 'failed', reason: error.message, error };
}

/** The database did not answer, or rolled a conflict back: the same fire may succeed later. */
function isTransient(error: unknown): boolean {
  const sqlState = String((error as { code?: unknown } | null)?.code);
  return isDatabaseUnavailable(error) || sqlState === '40001' || sqlState === '40P01';
}
