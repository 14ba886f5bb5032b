import { type JobFailure, type JobOutcome, OUTCOME_RUNNER_LIMIT, type TaskStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';

/** One row of the outcome statement: a runner of a job (kind 'runner') or its first failure ('failure'). */
interface OutcomeRow {
  job_id: string;
  kind: 'runner' | 'failure';
  runner_count: number | null;
  runner_id: string | null;
  runner_name: string | null;
  runner_deleted: boolean | null;
  index: number | null;
  attempt: number | null;
  status: TaskStatus | null;
  exit_code: number | null;
  reason: string | null;
  error: string | null;
}

/** Statuses of an attempt that make its element fail the job (as jobStore.refreshStatus counts them). */
const FAILING = `('failed', 'timed_out', 'lost')`;

/**
 * How many elements of a job its runners are read from (indexes 0 to this − 1): a page of huge
 * array jobs then reads at most this many elements of each, and runner_count is a lower bound
 * for a larger job.
 */
export const OUTCOME_ELEMENT_LIMIT = 256;

export function emptyOutcome(): JobOutcome {
  return { runners: [], runner_count: 0, failure: null };
}

/** SQL for what lists show of a job's tasks: who ran them and how the job failed. */
export const jobOutcomeStore = {
  /**
   * The outcome of each job, in one statement for a whole page:
   * - runners: the latest attempt of each of the job's first OUTCOME_ELEMENT_LIMIT elements (one
   *   range of tasks_attempt_key per job), their distinct runners counted and the first
   *   OUTCOME_RUNNER_LIMIT by element index named (joined to runners by id, so a deleted runner
   *   keeps its name);
   * - for the jobs in `failedIds` only: the lowest element whose latest attempt failed, timed out
   *   or was lost, walking tasks_attempt_key in index order and stopping there.
   * Jobs no runner has taken and without a failure are absent from the map.
   */
  async of(db: Queryable, jobIds: readonly string[], failedIds: readonly string[]): Promise<Map<string, JobOutcome>> {
    const outcomes = new Map<string, JobOutcome>();
    if (jobIds.length === 0) return outcomes;
    const { rows } = await db.query<OutcomeRow>(
      prepared(`WITH latest AS (
         SELECT DISTINCT ON (t.job_id, t.index) t.job_id, t.index, t.runner_id
           FROM tasks t WHERE t.job_id = ANY($1::uuid[]) AND t.index < $4
          ORDER BY t.job_id, t.index, t.attempt DESC
       ), ran AS (
         SELECT job_id, runner_id, min(index) AS first_index
           FROM latest WHERE runner_id IS NOT NULL GROUP BY job_id, runner_id
       ), ranked AS (
         SELECT job_id, runner_id, first_index,
                row_number() OVER (PARTITION BY job_id ORDER BY first_index) AS n,
                count(*) OVER (PARTITION BY job_id)::integer AS total
           FROM ran
       )
       SELECT k.job_id, 'runner' AS kind, k.total AS runner_count, r.id AS runner_id, r.name AS runner_name,
              r.deleted_at IS NOT NULL AS runner_deleted, k.first_index AS index, NULL::integer AS attempt,
              NULL::text AS status, NULL::integer AS exit_code, NULL::text AS reason, NULL::text AS error
         FROM ranked k JOIN runners r ON r.id = k.runner_id
        WHERE k.n <= $2
       UNION ALL
       SELECT fj.id, 'failure', NULL, NULL, NULL, NULL, f.index, f.attempt, f.status, f.exit_code, f.reason, f.error
         FROM unnest($3::uuid[]) AS fj(id)
        CROSS JOIN LATERAL (
          SELECT t.index, t.attempt, t.status, t.exit_code, t.reason, t.error FROM tasks t
           WHERE t.job_id = fj.id AND t.status IN ${FAILING}
             AND NOT EXISTS (SELECT 1 FROM tasks n WHERE n.job_id = t.job_id AND n.index = t.index AND n.attempt > t.attempt)
           ORDER BY t.index LIMIT 1
        ) f
       ORDER BY job_id, kind DESC, index`),
      [jobIds, OUTCOME_RUNNER_LIMIT, failedIds, OUTCOME_ELEMENT_LIMIT],
    );
    for (const row of rows) {
      const outcome = outcomes.get(row.job_id) ?? emptyOutcome();
      if (row.kind === 'runner') {
        outcome.runners.push({ id: row.runner_id!, name: row.runner_name!, deleted: row.runner_deleted! });
        outcome.runner_count = row.runner_count!;
      } else {
        outcome.failure = toFailure(row);
      }
      outcomes.set(row.job_id, outcome);
    }
    return outcomes;
  },
};

function toFailure(row: OutcomeRow): JobFailure {
  return {
    index: row.index!,
    attempt: row.attempt!,
    status: row.status!,
    exit_code: row.exit_code,
    reason: row.reason,
    error: row.error,
  };
}
