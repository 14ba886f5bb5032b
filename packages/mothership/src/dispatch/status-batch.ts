import type { TaskStatusReport } from '@borg/protocol';

/** How the queue applies one report of a batch. */
export interface PlannedReport {
  index: number;
  /**
   * The status the batch's one statement moves the task to for this report; null when the
   * report is applied on its own. A report the statement did not move (a repeat, a refusal) is
   * applied on its own too, which says why.
   */
  byStatement: 'running' | 'succeeded' | null;
  /**
   * The `running` of a task whose ending follows in the batch: it is answered as the ending is,
   * so a batch sent again after its answer was lost (the task has ended by then) gets the same
   * answer, not a refusal of the `running`.
   */
  endingFollows: boolean;
}

/** The batch split for taskStore.advanceMany, and how each report is applied, in the batch's order. */
export interface BatchPlan {
  running: string[];
  succeeded: Array<{ id: string; exitCode: number | null; error: string | null; fromAssigned: boolean }>;
  reports: PlannedReport[];
}

/**
 * Splits a runner's batch of reports. The reports every task makes go to one statement: a lone
 * `running`, a `succeeded`, and a `running` followed by its `succeeded` (one move from
 * `assigned`). Everything else (failures, cancels, a task named more than twice, two reports
 * other than running-then-ending) is applied on its own after that statement, in the batch's
 * order, so a task's reports keep their order.
 */
export function planBatch(reports: readonly TaskStatusReport[]): BatchPlan {
  const indexesOf = new Map<string, number[]>();
  reports.forEach((report, index) => {
    const list = indexesOf.get(report.task_id);
    if (list) list.push(index);
    else indexesOf.set(report.task_id, [index]);
  });

  const plan: BatchPlan = { running: [], succeeded: [], reports: [] };
  const add = (index: number, byStatement: PlannedReport['byStatement'], endingFollows = false) =>
    plan.reports.push({ index, byStatement, endingFollows });
  for (const [taskId, indexes] of indexesOf) {
    const [first, second] = indexes.map((i) => reports[i]!);
    const [i1, i2] = indexes as [number, number];
    if (indexes.length === 1 && first!.status === 'running') {
      plan.running.push(taskId);
      add(i1, 'running');
    } else if (indexes.length === 1 && first!.status === 'succeeded') {
      plan.succeeded.push(succeededOf(taskId, first!, false));
      add(i1, 'succeeded');
    } else if (indexes.length === 2 && first!.status === 'running' && second!.status === 'succeeded') {
      plan.succeeded.push(succeededOf(taskId, second!, true));
      add(i1, 'succeeded', true);
      add(i2, 'succeeded');
    } else if (indexes.length === 2 && first!.status === 'running' && second!.status !== 'running') {
      plan.running.push(taskId);
      add(i1, 'running', true);
      add(i2, null);
    } else {
      for (const index of indexes) add(index, null);
    }
  }
  plan.reports.sort((a, b) => a.index - b.index);
  return plan;
}

function succeededOf(id: string, report: TaskStatusReport, fromAssigned: boolean): BatchPlan['succeeded'][number] {
  return { id, exitCode: report.exit_code ?? null, error: report.error ?? null, fromAssigned };
}
