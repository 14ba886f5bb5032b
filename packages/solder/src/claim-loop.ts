import type { JobType } from '@borg/protocol';

import { type ClaimOutcome, firstClaimPlan, nextClaimPlan } from './claim-plan.ts';
import { hasCode, isTransient, retryDelayMs, sleep } from './retry.ts';
import type { RunnerSession } from './runner-session.ts';
import { SolderFatalError } from './solder-fatal-error.ts';
import type { TaskSlots } from './task-slots.ts';

/**
 * What a failed claim means.
 * - `transient`: the mothership could not be reached, or was busy or down (network, 5xx, 408,
 *   429); claim again after a backoff, nothing logged.
 * - `token-refused` (401): the runner token is gone; the session registers again (fatal if it
 *   cannot), then claims go on.
 * - `runner-refused` (403, 404): the mothership does not know this runner or will not let it
 *   claim: fatal.
 * - `refused`: any other answer; logged, and claimed again after a backoff.
 */
export type ClaimFailure = 'transient' | 'token-refused' | 'runner-refused' | 'refused';

export function claimFailure(error: unknown): ClaimFailure {
  if (hasCode(error, 'UNAUTHORIZED')) return 'token-refused';
  if (hasCode(error, 'FORBIDDEN', 'RUNNER_NOT_FOUND')) return 'runner-refused';
  return isTransient(error) ? 'transient' : 'refused';
}

export interface ClaimLoopOptions {
  session: RunnerSession;
  tasks: TaskSlots;
  /** --long-poll: how long one claim may wait for work. */
  longPollSeconds: number;
  /** --job-types: the server hands this solder only tasks of these types (default every type). */
  jobTypes?: JobType[];
  /** Aborted when the solder stops claiming (drain); the claim in flight ends with it. */
  signal: AbortSignal;
  /** After every claim the mothership answered (200 or 204). */
  onAnswered: () => void;
  onFatal: (error: SolderFatalError) => void;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Claims work while the solder takes any: with free slots, a long-poll for up to that many tasks;
 * when full, a listen-only long-poll (`max=0`) that hears cancels for the tasks running here.
 * Whether to long-poll or poll, and how long to pause, is the claim plan's (claim-plan.ts).
 */
export class ClaimLoop {
  /**
   * The claim in flight while every slot is taken (max=0). A task that ends aborts it, so the
   * freed slot is offered to the queue at once instead of when that wait runs out.
   */
  private listenOnlyClaim: AbortController | null = null;

  constructor(private readonly options: ClaimLoopOptions) {}

  /** A task ended: a listen-only claim in flight is cut short, and the next one asks for work. */
  offerFreedSlot(): void {
    this.listenOnlyClaim?.abort();
  }

  async run(): Promise<void> {
    const { session, tasks, longPollSeconds, signal } = this.options;
    let plan = firstClaimPlan(longPollSeconds);
    let failures = 0;
    while (!signal.aborted) {
      const free = tasks.free();
      const call = new AbortController();
      const stopCall = () => call.abort();
      signal.addEventListener('abort', stopCall, { once: true });
      this.listenOnlyClaim = free === 0 ? call : null;
      const asked = performance.now();
      let outcome: ClaimOutcome;
      try {
        const answer = await session.client.nextTasks(
          session.runnerId,
          { wait: plan.waitSeconds, max: free, ...(this.options.jobTypes ? { job_types: this.options.jobTypes } : {}) },
          { signal: call.signal },
        );
        failures = 0;
        if (answer) {
          tasks.cancel(answer.cancel_task_ids);
          for (const task of answer.items) tasks.start(task);
        }
        outcome = answer ? { kind: 'answered' } : { kind: 'empty', heldMs: performance.now() - asked };
      } catch (error) {
        if (signal.aborted) break;
        outcome = call.signal.aborted
          ? { kind: 'interrupted' }
          : { kind: 'failed', backoffMs: await this.backoffAfter(error, failures++) };
      } finally {
        signal.removeEventListener('abort', stopCall);
        this.listenOnlyClaim = null;
      }
      plan = nextClaimPlan(plan, outcome, longPollSeconds);
      if (plan.pauseMs > 0) await sleep(plan.pauseMs, signal);
      if (outcome.kind === 'answered' || outcome.kind === 'empty') this.options.onAnswered();
    }
  }

  /** Acts on a failed claim (see ClaimFailure) and returns how long to wait before the next. */
  private async backoffAfter(error: unknown, failures: number): Promise<number> {
    switch (claimFailure(error)) {
      case 'token-refused':
        await this.options.session.recoverFromUnauthorized();
        break;
      case 'runner-refused':
        this.options.onFatal(new SolderFatalError(`the mothership refused this runner: ${(error as Error).message}`));
        break;
      case 'refused':
        this.options.log('claim failed', { err: String(error) });
        break;
      case 'transient':
        break;
    }
    return retryDelayMs(error, failures, 500, 30_000);
  }
}
