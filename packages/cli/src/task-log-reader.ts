import { type BorgClient, type LogLine, type LogPage, MAX_LOG_PAGE_LINES, type Task } from '@borg/protocol';

/** The largest page the API gives: a 200,000-line log is 20 requests. */
const PAGE = MAX_LOG_PAGE_LINES;
/** The first page is small, so that the first lines print at once. */
const FIRST_PAGE = 1000;

/**
 * One task's log, read in line order exactly once: `next` is the index of the next line to
 * hand out. Lines may arrive from two places, the REST pages (`catchUp`) and WebSocket
 * `task.log` events (`offer`); both go through one queue, a line is emitted only when its index
 * is `next`, and a gap (an event that skips ahead) is filled from REST first. So a line is never
 * lost and never printed twice, however the two sources interleave.
 */
export class TaskLogReader {
  private queue: Promise<void> = Promise.resolve();
  next: number;

  constructor(
    readonly task: Task,
    private readonly client: BorgClient,
    private readonly emit: (task: Task, line: LogLine) => void,
    startAt = 0,
  ) {
    this.next = startAt;
  }

  /** Reads every line stored so far. */
  catchUp(): Promise<void> {
    return this.enqueue(() => this.fetchFromNext());
  }

  /** Lines from a `task.log` event. */
  offer(lines: LogLine[]): Promise<void> {
    return this.enqueue(async () => {
      for (const line of lines) {
        if (line.index < this.next) continue; // already printed (from REST)
        if (line.index > this.next) await this.fetchFromNext(); // a gap: REST has the lines between
        if (line.index !== this.next) continue;
        this.emit(this.task, line);
        this.next++;
      }
    });
  }

  /**
   * Reads pages until one is not full. While a page is printed the next one is already asked
   * for (it starts after the page's last line), so the mothership and the terminal work at once.
   */
  private async fetchFromNext(): Promise<void> {
    let coming = this.page(this.next - 1, FIRST_PAGE);
    for (;;) {
      const { page, limit } = await coming;
      const full = page.items.length === limit;
      if (full) coming = this.page(page.items.at(-1)!.index, PAGE);
      for (const line of page.items) {
        if (line.index !== this.next) continue;
        this.emit(this.task, line);
        this.next++;
      }
      if (!full) return;
    }
  }

  private page(after: number, limit: number): Promise<{ page: LogPage; limit: number }> {
    const request = this.client.getTaskLogs(this.task.id, { after, limit }).then((page) => ({ page, limit }));
    // Asked for ahead: if printing fails first, it is never awaited, and its failure is no crash.
    request.catch(() => undefined);
    return request;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    // A failed step must not stop the ones after it; its caller sees the failure.
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The number of lines in a task's log, found with about 2·log2(n) one-line requests rather
 * than reading the whole log: line indexes are contiguous from 0, so "is there a line at i?"
 * is monotone. For `--tail N` on a 1,000,000-line log that is ~40 requests instead of 1,000.
 */
export async function countLogLines(client: BorgClient, taskId: string): Promise<number> {
  const has = async (index: number) =>
    (await client.getTaskLogs(taskId, { after: index - 1, limit: 1 })).items.length > 0;
  if (!(await has(0))) return 0;
  let low = 0; // known to exist
  let step = 1;
  while (await has(low + step)) {
    low += step;
    step *= 2;
  }
  let high = low + step; // known not to exist
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await has(mid)) low = mid;
    else high = mid;
  }
  return low + 1;
}

/** Where to start reading for `--tail N` (0 without a tail). */
export async function tailStart(client: BorgClient, taskId: string, tail: number | undefined): Promise<number> {
  if (tail === undefined) return 0;
  return Math.max(0, (await countLogLines(client, taskId)) - tail);
}
