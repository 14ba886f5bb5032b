import {
  BorgApiError,
  type BorgClient,
  MAX_STATUS_REPORTS,
  type TaskStatusReport,
  type TaskStatusRequest,
  type TaskStatusResult,
} from '@borg/protocol';

import { hasCode, withRetry } from './retry.ts';

/**
 * A report's answer: the batch route's result, or a refusal the client met on the way (its code
 * may be one of the client's own, e.g. a proxy's 4xx without a Borg error body).
 */
export type ReportResult =
  Extract<TaskStatusResult, { status: unknown }> | { task_id: string; error: { code: string; message: string } };

/** The refusals that mean a task is no longer this runner's: it is dropped, and nothing more is said about it. */
export const NOT_OURS: ReadonlySet<string> = new Set([
  'FORBIDDEN',
  'TASK_NOT_FOUND',
  'STALE_TASK',
  'ILLEGAL_TRANSITION',
]);

interface Waiting {
  report: TaskStatusReport;
  resolve: (result: ReportResult) => void;
  reject: (error: unknown) => void;
}

export interface StatusReportsOptions {
  client: BorgClient;
  /** The runner these tasks belong to (its id is in the batch route's path). */
  runnerId: () => string;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The solder's task status reports, sent in batches (POST /runners/:id/tasks/status).
 *
 * - A report made while nothing is in flight leaves at once, alone: batching never delays a lone
 *   report. Reports made while a batch is in flight wait for its answer and leave together in the
 *   next, so a busy solder makes one request (and the mothership one commit) for many reports.
 * - Order is kept: a batch leaves only after the one before it was answered, so a task's ending
 *   never overtakes its `running`.
 * - A transient failure is retried for as long as it takes (a result must not be lost to a
 *   mothership restart); every report is idempotent, so a batch whose answer was lost is sent
 *   again as it was.
 * - Each report is answered with its own result: its task's status, or the refusal (a 4xx code)
 *   that says the task is no longer this runner's to report on; the reports about that task
 *   still waiting are then answered with the same refusal, unsent.
 * - Against a mothership without the batch route (404), reports go one by one on the single route;
 *   a batch refused whole as malformed is sent one by one too, so one bad report fails only itself.
 */
export class StatusReports {
  private readonly waiting: Waiting[] = [];
  private sending = false;
  private batchRoute = true;

  constructor(private readonly options: StatusReportsOptions) {}

  /** Sends a task's report (with others, when others wait) and resolves with its result. */
  send(taskId: string, report: TaskStatusRequest): Promise<ReportResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ report: { task_id: taskId, ...report }, resolve, reject });
      if (this.sending) return;
      this.sending = true;
      // Reports made in the same turn of the event loop (tasks started together) leave together.
      queueMicrotask(() => void this.sendWaiting());
    });
  }

  private async sendWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_STATUS_REPORTS);
      try {
        const results = await this.deliver(batch.map((w) => w.report));
        batch.forEach((w, i) => w.resolve(results[i]!));
        this.answerWaitingOfDropped(results);
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.sending = false;
  }

  /** Reports still waiting about a task the mothership just said is not ours are answered so, unsent. */
  private answerWaitingOfDropped(results: readonly ReportResult[]): void {
    const dropped = new Map<string, ReportResult>();
    for (const result of results)
      if ('error' in result && NOT_OURS.has(result.error.code)) dropped.set(result.task_id, result);
    if (dropped.size === 0) return;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const refusal = dropped.get(this.waiting[i]!.report.task_id);
      if (refusal) this.waiting.splice(i, 1)[0]!.resolve(refusal);
    }
  }

  private async deliver(reports: TaskStatusReport[]): Promise<ReportResult[]> {
    const { client, runnerId } = this.options;
    if (this.batchRoute) {
      try {
        return (await withRetry(() => client.reportTaskStatuses(runnerId(), { reports }))).results;
      } catch (error) {
        if (hasCode(error, 'FORBIDDEN')) return reports.map((r) => refusal(r.task_id, error));
        if (hasCode(error, 'NOT_FOUND')) {
          this.options.log('the mothership has no batch route for status reports: sending them one by one');
          this.batchRoute = false;
        } else if (!(hasCode(error, 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE') && reports.length > 1)) {
          throw error;
        }
      }
    }
    const results: ReportResult[] = [];
    for (const report of reports) results.push(await this.deliverAlone(report));
    return results;
  }

  private async deliverAlone({ task_id: taskId, ...status }: TaskStatusReport): Promise<ReportResult> {
    try {
      const answer = await withRetry(() => this.options.client.reportTaskStatus(taskId, status));
      return { task_id: taskId, status: answer.task.status, cancel_requested: answer.cancel_requested };
    } catch (error) {
      if (error instanceof BorgApiError && error.status >= 400 && error.status < 500) return refusal(taskId, error);
      throw error;
    }
  }
}

function refusal(taskId: string, error: BorgApiError): ReportResult {
  return { task_id: taskId, error: { code: error.code, message: error.message } };
}
