import type { JobElement, Task, TaskStatus } from '@borg/protocol';

/**
 * The latest attempt of every element of one array job, held outside React: a 10,000-element
 * grid is one canvas, and a task event changes one entry and asks for one redraw, never a render
 * of 10,000 nodes. Filled from GET /jobs/:id/elements, kept current by the WebSocket's
 * task.updated events (live.ts hands them to `applyTaskEvent`).
 */
export class ElementStates {
  private readonly items: Array<JobElement | undefined>;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly jobId: string,
    readonly size: number,
  ) {
    this.items = new Array<JobElement | undefined>(size);
  }

  get(index: number): JobElement | undefined {
    return this.items[index];
  }

  /**
   * The fetched list. An element an event already moved past what the fetch saw (a later
   * attempt, or the same one further along) keeps the event's state: the fetch may have been
   * answered before that event was sent.
   */
  load(elements: readonly JobElement[]): void {
    for (const element of elements) {
      if (element.index >= this.size) continue;
      const held = this.items[element.index];
      if (!held || newer(element, held)) this.items[element.index] = element;
    }
    this.changed();
  }

  /** A task.updated event: the element's state when it is its latest attempt (events arrive in order). */
  apply(task: Task): void {
    if (task.job_id !== this.jobId || task.index >= this.size) return;
    const held = this.items[task.index];
    if (held && task.attempt < held.attempt) return;
    this.items[task.index] = {
      index: task.index,
      status: task.status,
      attempt: task.attempt,
      task_id: task.id,
      runner_id: task.runner_id,
      exit_code: task.exit_code,
      cancel_requested: task.cancel_requested,
    };
    this.changed();
  }

  /** How many elements are in each status (those not yet known are left out). */
  counts(): Partial<Record<TaskStatus, number>> {
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const element of this.items) if (element) counts[element.status] = (counts[element.status] ?? 0) + 1;
    return counts;
  }

  /** The indexes whose latest attempt has one of these statuses. */
  indexesWith(statuses: readonly TaskStatus[]): number[] {
    const found: number[] = [];
    this.items.forEach((element, index) => {
      if (element && statuses.includes(element.status)) found.push(index);
    });
    return found;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** A task only moves forward through its states, so of two views of one attempt the further one is newer. */
const PROGRESS: Record<TaskStatus, number> = {
  blocked: 0,
  pending: 1,
  assigned: 2,
  running: 3,
  succeeded: 4,
  failed: 4,
  cancelled: 4,
  timed_out: 4,
  lost: 4,
  skipped: 4,
};

function newer(a: JobElement, b: JobElement): boolean {
  return a.attempt > b.attempt || (a.attempt === b.attempt && PROGRESS[a.status] > PROGRESS[b.status]);
}

/** The stores of the grids on screen, by job: live.ts hands each task event to them. */
const open = new Map<string, Set<ElementStates>>();

export function openElementStates(store: ElementStates): () => void {
  const stores = open.get(store.jobId) ?? new Set<ElementStates>();
  stores.add(store);
  open.set(store.jobId, stores);
  return () => {
    stores.delete(store);
    if (stores.size === 0) open.delete(store.jobId);
  };
}

export function applyTaskEvent(task: Task): void {
  for (const store of open.get(task.job_id) ?? []) store.apply(task);
}
