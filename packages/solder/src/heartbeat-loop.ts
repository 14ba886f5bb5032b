import type { GpuSample } from '@borg/protocol';

import { ContactClock } from './contact-clock.ts';
import { backoffMs, hasCode, isTransient, sleep } from './retry.ts';
import { offlineWindowMs, type RunnerSession } from './runner-session.ts';
import type { TaskSlots } from './task-slots.ts';

/** The longest the last heartbeat may hold up a solder that is stopping. */
const LEAVING_TIMEOUT_MS = 5_000;

/** Every 10th heartbeat carries a fresh reading of the machine (5 minutes at the default interval). */
const RESOURCES_EVERY_N_HEARTBEATS = 10;

/**
 * What a failed heartbeat means. None stops the loop: only the solder's end does.
 * - `transient`: the mothership could not be reached, or was busy or down (network, 5xx, 408,
 *   429); the next beat comes sooner, with backoff, and nothing is logged.
 * - `token-refused` (401): the runner token is gone; the session registers again, and if it cannot,
 *   that is fatal (the session tells the solder to stop).
 * - `refused`: any other answer; logged, and the next beat tries again.
 */
export type HeartbeatFailure = 'transient' | 'token-refused' | 'refused';

export function heartbeatFailure(error: unknown): HeartbeatFailure {
  if (hasCode(error, 'UNAUTHORIZED')) return 'token-refused';
  return isTransient(error) ? 'transient' : 'refused';
}

export interface HeartbeatLoopOptions {
  session: RunnerSession;
  tasks: TaskSlots;
  /** Aborted when the solder is done; until then heartbeats go on, draining included. */
  signal: AbortSignal;
  /** GPU samples taken since the last heartbeat, sent with the next one (see gpu-telemetry.ts). */
  gpuSamples?: { take(): GpuSample[]; giveBack(samples: readonly GpuSample[]): void };
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * One heartbeat every interval the mothership gives, listing the tasks running here and carrying
 * the GPU samples taken since the last one; the answer names tasks to cancel and tasks to abandon.
 * Samples a transient failure kept from the mothership go with the next beat; those of a refused
 * beat are dropped, so a sample the mothership will not take cannot cost every later heartbeat. After a failure the next beat comes after a
 * jittered backoff (0.5-1 s, then doubling) that is never longer than the interval, so a runner
 * that lost the mothership checks in again soon after it is back.
 */
export class HeartbeatLoop {
  constructor(private readonly options: HeartbeatLoopOptions) {}

  async run(): Promise<void> {
    const { session, tasks, signal } = this.options;
    let failures = 0;
    let beats = 0;
    while (!signal.aborted) {
      const interval = session.heartbeatIntervalMs;
      await sleep(failures === 0 ? interval : Math.min(interval, backoffMs(failures)), signal);
      if (signal.aborted) break;
      const resources = await this.resourcesFor(++beats);
      const samples = this.options.gpuSamples?.take() ?? [];
      const sent = performance.now();
      try {
        const answer = await session.client.heartbeat(session.runnerId, {
          status: tasks.size > 0 ? 'busy' : 'online',
          active_tasks: tasks.size,
          task_ids: tasks.ids,
          resources,
          ...(samples.length > 0 ? { gpus: samples } : {}),
        });
        failures = 0;
        session.contact.touched(sent);
        session.contact.offlineAfterMs = offlineWindowMs(answer);
        session.heartbeatIntervalMs = answer.heartbeat_interval_seconds * 1000;
        tasks.cancel(answer.cancel_task_ids);
        tasks.abandon(answer.abandon_task_ids);
        tasks.keep(answer.kept_task_ids);
      } catch (error) {
        failures++;
        if (ContactClock.provesMothershipWaits(error)) session.contact.touched(sent);
        const failure = heartbeatFailure(error);
        if (failure !== 'refused') this.options.gpuSamples?.giveBack(samples);
        if (failure === 'token-refused') await session.recoverFromUnauthorized();
        else if (failure === 'refused') this.options.log('heartbeat refused', { err: String(error) });
      }
    }
  }

  /** A fresh reading on every 10th beat; none on the others, and none when the reading fails. */
  private async resourcesFor(beat: number): Promise<Record<string, unknown> | undefined> {
    if (beat % RESOURCES_EVERY_N_HEARTBEATS !== 0) return undefined;
    try {
      return await this.options.session.readResources();
    } catch {
      return undefined; // a failed probe must not cost a heartbeat
    }
  }
}

/**
 * The last heartbeat of a solder that stopped cleanly (drained): status `stopping`, no tasks. The
 * mothership shows the runner offline (stopped) at once instead of after three missed beats. It
 * is sent once, bounded; a mothership that cannot be reached learns it from the silence instead.
 */
export async function sayLeaving(
  session: RunnerSession,
  log: (message: string, fields?: Record<string, unknown>) => void,
  timeoutMs = LEAVING_TIMEOUT_MS,
): Promise<void> {
  try {
    await session.client.heartbeat(
      session.runnerId,
      { status: 'stopping', active_tasks: 0, task_ids: [] },
      { signal: AbortSignal.timeout(timeoutMs) },
    );
  } catch (error) {
    log('could not tell the mothership this runner is leaving', { err: String(error) });
  }
}
