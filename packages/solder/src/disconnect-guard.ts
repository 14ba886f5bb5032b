import type { ContactClock } from './contact-clock.ts';
import type { TaskSlots } from './task-slots.ts';

/** How often the guard looks at the clock: well inside any offline window. */
const CHECK_EVERY_MS = 250;

/**
 * Stops the tasks a solder cut off from the mothership must not run on (each job's
 * on_disconnect): by default once it has been out of touch for longer than the mothership's
 * offline window, when the mothership calls this runner offline and runs the task elsewhere, so
 * the copy there is the only one still running; after `stop_after` when the job gives one; never
 * for `keep`. A stopped task is reported `cancelled` (`disconnected`) when the mothership can
 * be reached again; if it took the attempt back meanwhile, that report is refused and dropped.
 */
export class DisconnectGuard {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly contact: ContactClock,
    /** The heartbeat interval the mothership asked for last. */
    private readonly heartbeatIntervalMs: () => number,
    private readonly tasks: TaskSlots,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void,
  ) {
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  check(): void {
    const { outOfTouchMs, offlineAfterMs } = this.contact;
    const window = { offlineAfterMs, heartbeatIntervalMs: this.heartbeatIntervalMs() };
    for (const run of this.tasks.all) {
      if (run.stopping || outOfTouchMs <= run.stopAfterOutOfTouchMs(window)) continue;
      this.log('out of touch with the mothership for too long: stopping the task', {
        task_id: run.id,
        out_of_touch_s: Math.round(outOfTouchMs / 1000),
      });
      run.disconnect(outOfTouchMs);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
