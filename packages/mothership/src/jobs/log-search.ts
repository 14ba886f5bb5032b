import type { LogSearchDone, LogSearchMatch, LogSearchQuery } from '@borg/protocol';
import { searchPatternProblem } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import { logStore } from './log-store.ts';

/** How long one search may read before it answers what it found, cut short. */
export const SEARCH_BUDGET_MS = 10_000;
/** Chunks read per query (each up to 10,000 lines). */
const CHUNKS_PER_PAGE = 200;

/**
 * Searches the logs of every task of a job, finished or running, chunk by chunk, matching in
 * Node, and yields each match as it is found, then a last line saying whether it got through
 * all of them. The pattern is checked first (searchPatternProblem): a refused one is a 400.
 */
export function checkedSearch(query: LogSearchQuery): RegExp {
  const problem = searchPatternProblem(query.q);
  if (problem) throw new BorgError('VALIDATION_FAILED', `q: ${problem}`, { field: 'q' });
  return new RegExp(query.q);
}

export async function* searchJobLogs(
  db: Queryable,
  jobId: string,
  query: LogSearchQuery,
  pattern: RegExp,
  budgetMs = SEARCH_BUDGET_MS,
): AsyncGenerator<LogSearchMatch | LogSearchDone> {
  const deadline = performance.now() + budgetMs;
  let after: { index: number; taskId: string; firstLine: number } | null = null;
  let matches = 0;
  for (;;) {
    const chunks = await logStore.chunksOfJob(db, jobId, after, CHUNKS_PER_PAGE);
    for (const chunk of chunks) {
      for (const line of chunk.lines) {
        if (query.stream && line.stream !== query.stream) continue;
        if (!pattern.test(line.message)) continue;
        yield { task_id: chunk.task_id, index: chunk.index, line: line.index, ...pick(line) };
        if (++matches >= query.limit) {
          yield { done: true, cut_short: true, reason: `the limit of ${query.limit} matches was reached`, matches };
          return;
        }
      }
      after = { index: chunk.index, taskId: chunk.task_id, firstLine: chunk.first_line };
    }
    if (chunks.length < CHUNKS_PER_PAGE) break;
    if (performance.now() > deadline) {
      yield { done: true, cut_short: true, reason: `the time budget of ${budgetMs / 1000} s ran out`, matches };
      return;
    }
  }
  yield { done: true, cut_short: false, reason: null, matches };
}

function pick(line: { stream: LogSearchMatch['stream']; message: string; timestamp: string }) {
  return { stream: line.stream, message: line.message, timestamp: line.timestamp };
}
