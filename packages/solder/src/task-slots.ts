import type { ClaimedTask } from '@borg/protocol';

import type { TaskRun } from './task-run.ts';

export interface TaskSlotsOptions {
  /** Tasks at once (--max-concurrent-tasks). */
  capacity: number;
  /** Tasks in all before the solder stops (1 for --once, --max-tasks); undefined for no limit. */
  limit: number | undefined;
  /** Starts one task. */
  run: (task: ClaimedTask) => TaskRun;
  /** Called after a task has ended and its slot is free again. */
  onEnded: () => void;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The tasks this solder is running, one TaskRun each, counted against its capacity and its task
 * limit, and when it last had one (for --idle-exit).
 */
export class TaskSlots {
  private readonly runs = new Map<string, TaskRun>();
  private started = 0;
  private lastBusy = performance.now();

  constructor(private readonly options: TaskSlotsOptions) {}

  /** Tasks running now. */
  get size(): number {
    return this.runs.size;
  }

  get ids(): string[] {
    return [...this.runs.keys()];
  }

  /** The tasks running now. */
  get all(): TaskRun[] {
    return [...this.runs.values()];
  }

  /** Slots to ask for: free capacity, less what the task limit still allows; 0 listens for cancels only. */
  free(): number {
    let free = this.options.capacity - this.runs.size;
    const { limit } = this.options;
    if (limit !== undefined) free = Math.min(free, limit - this.started);
    return Math.max(0, free);
  }

  /** True once the task limit is used up and the last of those tasks has ended. */
  get exhausted(): boolean {
    const { limit } = this.options;
    return limit !== undefined && this.started >= limit && this.runs.size === 0;
  }

  /** True when nothing has run for longer than `ms`. */
  idleLongerThan(ms: number): boolean {
    return this.runs.size === 0 && performance.now() - this.lastBusy > ms;
  }

  start(task: ClaimedTask): void {
    this.started++;
    this.lastBusy = performance.now();
    this.options.log('task started', { task_id: task.id, job_id: task.job_id, attempt: task.attempt });
    const run = this.options.run(task);
    this.runs.set(task.id, run);
    run.onIdChange = (oldId, newId) => {
      this.runs.delete(oldId);
      this.runs.set(newId, run);
    };
    void run.done.then(() => {
      this.runs.delete(run.id);
      this.lastBusy = performance.now();
      this.options.log('task finished', { task_id: task.id });
      this.options.onEnded();
    });
  }

  /** The user cancelled these tasks' jobs; ids of tasks not running here are ignored. */
  cancel(ids: readonly string[]): void {
    for (const id of ids) this.runs.get(id)?.cancel();
  }

  /** The server took these tasks back, but their jobs keep such copies running (on_disconnect keep). */
  keep(ids: readonly string[]): void {
    for (const id of ids) this.runs.get(id)?.detach();
  }

  /** The server no longer gives these tasks to this runner; ids of tasks not running here are ignored. */
  abandon(ids: readonly string[]): void {
    for (const id of ids) this.runs.get(id)?.abandon();
  }

  /** The solder stops without waiting: every task is stopped and reported cancelled. */
  shutdown(): void {
    for (const run of this.runs.values()) run.shutdown();
  }

  /** Resolves when every task running now has ended (a task started meanwhile is not waited for). */
  async settled(): Promise<void> {
    await Promise.all([...this.runs.values()].map((run) => run.done));
  }
}
