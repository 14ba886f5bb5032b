import type { JobGraph, Pipeline, ValidCreatePipelineRequest } from '@borg/protocol';

import type { Principal } from '../auth/principal.ts';
import type { Database } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { BorgEvent, EventBus } from '../events/event-bus.ts';
import { dependencyStore, type DownstreamChange } from '../jobs/dependency-store.ts';
import { insertJob } from '../jobs/job-insert.ts';
import { downstreamEvents } from '../jobs/job-refresh.ts';
import { type JobRow, jobStore } from '../jobs/job-store.ts';
import { jobViews } from '../jobs/job-views.ts';
import { judgeSatisfiability, placementDemandOf } from '../jobs/satisfiability.ts';
import { creationOrder } from './pipeline-order.ts';
import { pipelineStore } from './pipeline-store.ts';

/** How many jobs a job's graph shows at most. */
export const GRAPH_LIMIT = 200;

/** Pipelines (jobs submitted together, referring to each other by name) and job graphs. */
export class PipelineActions {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
  ) {}

  /**
   * Creates every job of the request in one transaction, upstream before downstream, the local
   * names in `depends_on` / `inputs_from` turned into the ids just created; all or none. Each job
   * is checked as POST /jobs checks it (a job no runner could take, asking `reject`, fails the
   * whole request with 422 naming it).
   */
  async createPipeline(input: ValidCreatePipelineRequest, submitter: Principal): Promise<Pipeline> {
    const order = creationOrder(input.jobs);
    const unsatisfiable = await Promise.all(
      input.jobs.map(async (job) => {
        try {
          const judged = await judgeSatisfiability(this.db, placementDemandOf(job), job.unsatisfiable);
          return judged.unsatisfiable;
        } catch (error) {
          if (error instanceof BorgError) {
            throw new BorgError(error.code, `job "${job.name}": ${error.message}`, error.details);
          }
          throw error;
        }
      }),
    );
    const { pipeline, rows, downstream } = await this.db.transaction(async (tx) => {
      const pipeline = await pipelineStore.insert(tx, input.name ?? null, {
        tokenId: submitter.tokenId,
        name: submitter.name,
      });
      const idOfName = new Map<string, string>();
      const rows: JobRow[] = [];
      const downstream: DownstreamChange[] = [];
      for (const position of order) {
        const job = input.jobs[position]!;
        const inserted = await insertJob(tx, job, {
          unsatisfiable: unsatisfiable[position]!,
          submitter,
          pipeline: { id: pipeline.id, position },
          idOfName: (name) => idOfName.get(name),
        }).catch((error: unknown) => {
          if (error instanceof BorgError) {
            throw new BorgError(error.code, `job "${job.name}": ${error.message}`, error.details);
          }
          throw error;
        });
        idOfName.set(job.name, inserted!.row.id);
        rows[position] = inserted!.row;
        downstream.push(...inserted!.downstream);
      }
      // Releases by upstreams that had ended before the request moved some of these rows.
      const moved = new Set(downstream.map((c) => c.id));
      const current = moved.size > 0 ? await jobStore.byIds(tx, [...moved]) : [];
      for (const row of current) rows[rows.findIndex((r) => r.id === row.id)] = row;
      return { pipeline, rows, downstream };
    });

    const jobs = await jobViews.of(this.db, rows);
    const created = new Set(rows.map((r) => r.id));
    const events: BorgEvent[] = [
      ...jobs.map((job): BorgEvent => ({ type: 'job.updated', job })),
      ...(await downstreamEvents(
        this.db,
        downstream.filter((c) => !created.has(c.id)),
      )),
    ];
    const claimable = jobs.filter((job) => job.status === 'queued').reduce((sum, job) => sum + job.array_size, 0);
    if (claimable > 0) events.push({ type: 'tasks.available', count: claimable, labels: null });
    this.bus.publishAll(events);
    return { id: pipeline.id, name: pipeline.name, created_at: pipeline.created_at.toISOString(), jobs };
  }

  async getPipeline(id: string): Promise<Pipeline> {
    const pipeline = await pipelineStore.get(this.db, id);
    if (!pipeline) throw new BorgError('NOT_FOUND', `pipeline ${id} does not exist`);
    const jobs = await jobViews.of(this.db, await jobStore.ofPipeline(this.db, id));
    return { id: pipeline.id, name: pipeline.name, created_at: pipeline.created_at.toISOString(), jobs };
  }

  async jobGraph(id: string): Promise<JobGraph> {
    if (!(await jobStore.get(this.db, id))) throw notFound('job', id);
    return dependencyStore.graph(this.db, id, GRAPH_LIMIT);
  }
}
