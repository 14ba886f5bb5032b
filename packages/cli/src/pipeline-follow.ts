import type { Job, Pipeline, ServerMessage } from '@borg/protocol';

import type { Connection } from './client-from-config.ts';
import { latestAttempts } from './job-outcome.ts';
import { LiveEvents } from './live-events.ts';
import { LogPrinter } from './log-printer.ts';
import type { Output } from './output.ts';
import { jobNote } from './pipeline-views.ts';
import { followLive, Waker } from './poll-rounds.ts';
import { tailStart } from './task-log-reader.ts';

/** One `subscribe` message carries at most 100 topics: a larger pipeline listens to every job's events. */
const MAX_JOB_TOPICS = 100;
/** Names longer than this are not padded to in the status lines. */
const NAME_WIDTH_LIMIT = 30;

/**
 * `borg run --follow`: prints each job's status change as it happens, and the last lines of
 * the failing element's log when a job fails, until every job of the pipeline has ended.
 *
 * Changes come from the jobs' WebSocket events as they happen and from a REST read of the
 * pipeline (GET /pipelines/:id), which is what decides the end: at the start, every 2 s (every
 * 0.5 s without the WebSocket), and at once after an event that changed a status. A job's state
 * is taken only when it is at least as new (`updated_at`) as the one held, so a REST answer
 * overtaken by an event never turns a status back.
 */
export class PipelineFollower {
  private readonly jobs = new Map<string, Job>();
  private readonly live: LiveEvents;
  private readonly printer: LogPrinter;
  private readonly nameWidth: number;
  /**
   * What is printed, in the order it happened: a failure's log tail is read before the changes
   * seen after it are printed, so it stands under the line that says the job failed.
   */
  private printing: Promise<void> = Promise.resolve();
  /** Failures whose log tail has been printed, by job, element and attempt. */
  private readonly tailsPrinted = new Set<string>();
  /** A status change seen in an event calls for a REST round now. */
  private readonly waker = new Waker();

  constructor(
    private readonly conn: Connection,
    private readonly pipeline: Pipeline,
    private readonly out: Output,
    /** How many lines of a failing element's log to print. */
    private readonly tailLines: number,
  ) {
    for (const job of pipeline.jobs) this.jobs.set(job.id, job);
    this.live = new LiveEvents(conn.addr, conn.token, (message) => this.onEvent(message));
    this.printer = new LogPrinter(out, { prefix: false });
    this.nameWidth = Math.min(NAME_WIDTH_LIMIT, Math.max(...pipeline.jobs.map((j) => j.name.length)));
    for (const job of pipeline.jobs) if (job.status === 'failed') this.then(() => this.printTail(job));
  }

  /** The jobs as last seen, in the order of the pipeline. */
  current(): Job[] {
    return this.pipeline.jobs.map((job) => this.jobs.get(job.id)!);
  }

  /** Follows until every job has ended; the jobs then. */
  run(): Promise<Job[]> {
    const ids = this.pipeline.jobs.map((job) => job.id);
    const topics = ids.length <= MAX_JOB_TOPICS ? ids.map((id) => `job:${id}`) : ['jobs'];
    return followLive(this.live, topics, () => this.round(), this.waker);
  }

  /** One REST round: every job's state, the tails of new failures; the jobs once all have ended. */
  private async round(): Promise<Job[] | undefined> {
    const { jobs } = await this.conn.client.getPipeline(this.pipeline.id);
    for (const job of jobs) this.observe(job);
    await this.printing;
    return jobs.every((job) => job.completed_at !== null) ? this.current() : undefined;
  }

  private onEvent(message: ServerMessage): void {
    if (message.type !== 'job.updated' || !this.jobs.has(message.data.id)) return;
    if (this.observe(message.data)) this.waker.poke();
  }

  /** Takes a job's state if it is not older than the one held; prints a change of status. True on a change. */
  private observe(job: Job): boolean {
    const held = this.jobs.get(job.id);
    if (!held || Date.parse(job.updated_at) < Date.parse(held.updated_at)) return false;
    this.jobs.set(job.id, job);
    if (held.status === job.status) return false;
    this.then(async () => this.printChange(job));
    if (job.status === 'failed') {
      this.then(() =>
        this.printTail(job).catch((error: unknown) =>
          this.out.note(`borg: could not read the log of job ${job.id} (${(error as Error).message})`),
        ),
      );
    }
    return true;
  }

  /** Queues a step of printing after those before it; one that fails (a log unreadable) does not stop the rest. */
  private then(step: () => Promise<void>): void {
    this.printing = this.printing.then(step).catch(() => undefined);
  }

  private printChange(job: Job): void {
    if (this.out.json) return this.out.printJsonLine({ type: 'job', job });
    // When it changed, by the mothership's clock, in local time.
    const time = new Date(job.updated_at).toTimeString().slice(0, 8);
    const note = jobNote(job);
    const name = this.out.cell(job.name).padEnd(this.nameWidth);
    this.out.print(`${this.out.paint('dim', time)}  ${name}  ${this.out.status(job.status)}${note ? `: ${note}` : ''}`);
  }

  private async printTail(job: Job): Promise<void> {
    if (this.tailLines === 0) return;
    const full = await this.conn.client.getJob(job.id);
    const failure = full.outcome.failure;
    // The lowest failing element's latest attempt, as the jobs list names it.
    const task = failure
      ? full.tasks.find((t) => t.index === failure.index && t.attempt === failure.attempt)
      : latestAttempts(full).find((t) => t.status !== 'succeeded');
    if (!task) return;
    const key = `${job.id}:${task.index}:${task.attempt}`;
    if (this.tailsPrinted.has(key)) return;
    this.tailsPrinted.add(key);
    const start = await tailStart(this.conn.client, task.id, this.tailLines);
    const page = await this.conn.client.getTaskLogs(task.id, { after: start - 1, limit: this.tailLines });
    if (!this.out.json) {
      const what = page.items.length === 0 ? 'it printed nothing' : `the last lines of its log`;
      const element = full.array_size > 1 ? `element ${task.index}, ` : '';
      this.out.print(
        this.out.paint('dim', `── ${this.out.cell(job.name)} (${element}attempt ${task.attempt}): ${what} ──`),
      );
    }
    for (const line of page.items) this.printer.print(task, line);
  }
}
