import type { JobWithTasks, ServerMessage, Task } from '@borg/protocol';

import type { Connection } from './client-from-config.ts';
import { isTaskFinished, latestAttempts } from './job-outcome.ts';
import { LiveEvents } from './live-events.ts';
import type { LogPrinter } from './log-printer.ts';
import { followLive, Waker } from './poll-rounds.ts';
import { tailStart, TaskLogReader } from './task-log-reader.ts';

export type FollowScope = { kind: 'job'; jobId: string } | { kind: 'task'; taskId: string };

/**
 * Prints a job's or a task's log lines live until it finishes, then returns its final state.
 *
 * Lines come from WebSocket `task.log` events as they are stored, and from REST pages, which
 * fill any gap and, at the end, everything not yet printed. The end is decided by REST alone:
 * each round reads the status first and the logs second, and a solder sends all of a task's
 * lines before it reports the task finished, so the round that sees "finished" also prints the
 * last line.
 *
 * A job is followed through retries: the newest attempt of each element is printed, and a new
 * attempt is announced and printed from its first line.
 */
export async function followLogs(
  conn: Connection,
  scope: FollowScope,
  printer: LogPrinter,
  options: { tail?: number; element?: number } = {},
): Promise<JobWithTasks | Task> {
  const follower = new Follower(conn, scope, printer, options.tail, options.element);
  return follower.run();
}

class Follower {
  private readonly readers = new Map<string, TaskLogReader>();
  /** Tasks whose finished state has been seen and whose log was read after it: nothing more comes. */
  private readonly drained = new Set<string>();
  private readonly live: LiveEvents;
  /** An event that calls for a REST round now wakes the sleep between rounds. */
  private readonly waker = new Waker();
  private firstRound = true;

  constructor(
    private readonly conn: Connection,
    private readonly scope: FollowScope,
    private readonly printer: LogPrinter,
    private readonly tail: number | undefined,
    /** Follow only this element of a job. */
    private readonly element: number | undefined,
  ) {
    this.live = new LiveEvents(conn.addr, conn.token, (message) => this.onEvent(message));
  }

  run(): Promise<JobWithTasks | Task> {
    const topic = this.scope.kind === 'job' ? `job:${this.scope.jobId}` : `task:${this.scope.taskId}`;
    return followLive(this.live, [topic], () => this.round(), this.waker);
  }

  /** One REST round: status first, then every live task's new lines. Returns the final state once finished. */
  private async round(): Promise<JobWithTasks | Task | undefined> {
    if (this.scope.kind === 'task') {
      const task = await this.conn.client.getTask(this.scope.taskId);
      await this.track(task);
      await this.drain([task]);
      return isTaskFinished(task) ? task : undefined;
    }
    const job = await this.conn.client.getJob(this.scope.jobId);
    const current = latestAttempts(job).filter((t) => this.element === undefined || t.index === this.element);
    for (const task of current) await this.track(task);
    // Older attempts still being read (one that ended since the last round) finish too.
    const older = job.tasks.filter((t) => this.readers.has(t.id) && !current.includes(t));
    await this.drain([...older, ...current]);
    return job.completed_at ? job : undefined;
  }

  private async track(task: Task): Promise<void> {
    if (this.readers.has(task.id)) return;
    const start = this.firstRound ? await tailStart(this.conn.client, task.id, this.tail) : 0;
    // Every element's first attempt exists from the job's creation, so a task seen later is a retry.
    if (task.attempt > 1) this.printer.attemptStarted(task);
    const reader = new TaskLogReader(task, this.conn.client, (t, line) => this.printer.print(t, line), start);
    this.readers.set(task.id, reader);
    this.live.subscribe([`task:${task.id}`]);
  }

  private async drain(tasks: Task[]): Promise<void> {
    this.firstRound = false;
    for (const task of tasks) {
      // Pending and blocked tasks have no lines yet; drained ones will have no more.
      if (task.status === 'pending' || task.status === 'blocked' || this.drained.has(task.id)) continue;
      await this.readers.get(task.id)?.catchUp();
      if (isTaskFinished(task)) {
        this.drained.add(task.id);
        this.live.unsubscribe([`task:${task.id}`]);
      }
    }
  }

  private onEvent(message: ServerMessage): void {
    if (message.type === 'task.log') {
      // Errors are left to the next REST round, which reads from the same cursor.
      this.readers
        .get(message.data.task_id)
        ?.offer(message.data.lines)
        .catch(() => undefined);
    } else if (message.type === 'task.updated') {
      if (isTaskFinished(message.data) || !this.readers.has(message.data.id)) this.waker.poke();
    } else if (message.type === 'job.updated' && message.data.completed_at) {
      this.waker.poke();
    }
  }
}
