import type { Job } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { dependencyStore } from './dependency-store.ts';
import { jobOutcomeStore } from './job-outcome-store.ts';
import { type JobRow, jobStore, toJob } from './job-store.ts';

/**
 * The API's view of job rows (lists, a job's page, job.updated events): each with its input files,
 * its outcome (who ran it, how it failed) and its dependencies and inputs. Three statements for
 * any number of rows, never one per job.
 */
export const jobViews = {
  async of(db: Queryable, rows: readonly JobRow[]): Promise<Job[]> {
    const ids = rows.map((r) => r.id);
    const failed = rows.filter((r) => r.status === 'failed').map((r) => r.id);
    const reads = [
      () => jobStore.filesOf(db, ids),
      () => jobOutcomeStore.of(db, ids, failed),
      () => dependencyStore.ofJobs(db, ids),
    ] as const;
    // Side by side on a pool (one connection each); one after another on a transaction's single
    // connection, which must not be handed a query while it runs one (pg deprecates that).
    const [files, outcomes, links] =
      'transaction' in db
        ? await Promise.all([reads[0](), reads[1](), reads[2]()])
        : [await reads[0](), await reads[1](), await reads[2]()];
    return rows.map((row) =>
      toJob(row, files.get(row.id) ?? [], outcomes.get(row.id), {
        depends_on: links.dependencies.get(row.id) ?? [],
        inputs_from: links.inputs.get(row.id) ?? [],
      }),
    );
  },

  async one(db: Queryable, row: JobRow): Promise<Job> {
    return (await jobViews.of(db, [row]))[0]!;
  },
};
