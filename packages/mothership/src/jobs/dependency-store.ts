import type { DependencyCondition, GraphEdge, GraphNode, JobDependency, JobInput, JobStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';

/** An upstream job as a dependency needs it: share-locked, so it cannot end unseen meanwhile. */
export interface UpstreamRow {
  id: string;
  name: string;
  status: JobStatus;
  ended: boolean;
  array_size: number;
}

export interface NewDependency {
  upstreamId: string;
  condition: DependencyCondition;
}

export interface NewInput {
  upstreamId: string;
  artifacts: string;
  path: string | null;
  sameElement: boolean;
}

/** A job whose dependencies an upstream's ending (or re-opening) changed, and what it is now. */
export interface DownstreamChange {
  id: string;
  name: string;
  status: JobStatus;
  array_size: number;
  /** Its attempts became pending (its last dependency was met). */
  released: boolean;
  /** It had been skipped and waits again (an upstream is retried). */
  reblocked: boolean;
}

/** Whether an ending upstream job meets a condition (also in resolve's SQL). */
export function conditionHolds(condition: DependencyCondition, upstreamStatus: JobStatus): boolean {
  return condition === 'finished' || condition === upstreamStatus;
}

/** SQL for job dependencies and inputs (migration 0014). */
export const dependencyStore = {
  /**
   * Upstream jobs by id, share-locked in id order: an upstream's ending takes its row lock, so
   * it either committed before (and is seen ended here) or waits for the new job to commit
   * (and then finds its dependency rows). Unknown ids are missing from the answer.
   */
  async lockUpstreams(db: Queryable, ids: readonly string[]): Promise<Map<string, UpstreamRow>> {
    if (ids.length === 0) return new Map();
    const { rows } = await db.query<UpstreamRow>(
      `SELECT id, name, status, completed_at IS NOT NULL AS ended, array_size
         FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE`,
      [ids],
    );
    return new Map(rows.map((row) => [row.id, row]));
  },

  /** Records a new job's dependencies (all `waiting`) and inputs, in one statement. */
  async insert(db: Queryable, jobId: string, dependencies: NewDependency[], inputs: NewInput[]): Promise<void> {
    await db.query(
      `WITH dependencies AS (
         INSERT INTO job_dependencies (job_id, upstream_id, position, condition)
         SELECT $1, u, n - 1, c FROM unnest($2::uuid[], $3::text[]) WITH ORDINALITY AS d(u, c, n)
       )
       INSERT INTO job_inputs (job_id, position, upstream_id, artifacts, path, same_element)
       SELECT $1, n - 1, u, g, p, s FROM unnest($4::uuid[], $5::text[], $6::text[], $7::boolean[]) WITH ORDINALITY AS i(u, g, p, s, n)`,
      [
        jobId,
        dependencies.map((d) => d.upstreamId),
        dependencies.map((d) => d.condition),
        inputs.map((i) => i.upstreamId),
        inputs.map((i) => i.artifacts),
        inputs.map((i) => i.path),
        inputs.map((i) => i.sameElement),
      ],
    );
  },

  /**
   * THE release, one statement for ended upstream jobs (usually one): their waiting
   * dependencies become `met` or `unmet`; each downstream job not ended counts its met ones
   * down, and is then `blocked` still, released (`queued`, or `paused`; its attempts `pending`),
   * or, with an unmet one, `skipped` (its attempts too, the reason naming the upstream). With
   * `onlyJob`, only that job's dependencies are resolved (a job submitted after its upstream
   * ended). Downstream rows are locked in id order, so two upstreams ending at once with shared
   * dependants cannot deadlock. The status rules are refreshStatus's for a job whose attempts
   * are all blocked, skipped or just released.
   */
  async resolve(
    db: Queryable,
    upstreams: ReadonlyArray<{ id: string; name: string; status: JobStatus }>,
    onlyJob: string | null = null,
  ): Promise<DownstreamChange[]> {
    const { rows } = await db.query<DownstreamChange>(
      `WITH ended AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS e(id, name, status)
       ), resolved AS (
         UPDATE job_dependencies d
            SET state = CASE WHEN d.condition = 'finished' OR d.condition = e.status THEN 'met' ELSE 'unmet' END
           FROM ended e
          WHERE d.upstream_id = e.id AND d.state = 'waiting' AND ($4::uuid IS NULL OR d.job_id = $4)
         RETURNING d.job_id, d.state,
                   format('upstream job "%s" (%s) ended %s; this job needed it to have %s',
                          e.name, e.id, e.status, d.condition) AS reason
       ), tally AS (
         SELECT job_id, count(*) FILTER (WHERE state = 'met')::integer AS met,
                min(reason) FILTER (WHERE state = 'unmet') AS skip_reason
           FROM resolved GROUP BY job_id
       ), locked AS (
         SELECT j.id FROM jobs j JOIN tally t ON t.job_id = j.id
          WHERE j.completed_at IS NULL ORDER BY j.id FOR NO KEY UPDATE OF j
       ), changed AS (
         UPDATE jobs j SET
           unmet_dependencies = j.unmet_dependencies - t.met,
           skip_reason = t.skip_reason,
           status = CASE WHEN t.skip_reason IS NOT NULL THEN 'skipped'
                         WHEN j.unmet_dependencies - t.met > 0 THEN 'blocked'
                         WHEN j.paused THEN 'paused'
                         ELSE 'queued' END,
           completed_at = CASE WHEN t.skip_reason IS NOT NULL THEN now() END,
           updated_at = now()
           FROM tally t, locked l
          WHERE j.id = t.job_id AND l.id = j.id
         RETURNING j.id, j.name, j.status, j.array_size
       ), released AS (
         UPDATE tasks t SET status = 'pending', available_at = now()
           FROM changed c
          WHERE t.job_id = c.id AND c.status IN ('queued', 'paused') AND t.status = 'blocked'
       ), skipped AS (
         UPDATE tasks t SET status = 'skipped', reason = 'dependency_unmet', completed_at = now()
           FROM changed c
          WHERE t.job_id = c.id AND c.status = 'skipped' AND t.status = 'blocked'
       )
       SELECT id, name, status, array_size, status IN ('queued', 'paused') AS released, false AS reblocked
         FROM changed`,
      [upstreams.map((u) => u.id), upstreams.map((u) => u.name), upstreams.map((u) => u.status), onlyJob],
    );
    return rows;
  },

  /**
   * An upstream job runs again (retried): its dependants that have not started yet wait for it
   * again. Each such dependency goes back to `waiting` (a met one counts as unmet again), and a
   * job it had skipped, with no other unmet dependency, is `blocked` again with a new blocked
   * attempt for each element, in one statement. Jobs that already started keep what they ran
   * on. Returns the jobs changed (those re-blocked are themselves re-opened upstreams).
   */
  async reopen(db: Queryable, upstreamId: string): Promise<DownstreamChange[]> {
    const { rows } = await db.query<DownstreamChange>(
      `WITH affected AS (
         SELECT d.job_id, d.state FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
          WHERE d.upstream_id = $1 AND d.state <> 'waiting' AND j.status IN ('blocked', 'skipped')
          ORDER BY d.job_id FOR NO KEY UPDATE OF j
       ), reset AS (
         UPDATE job_dependencies d SET state = 'waiting'
           FROM affected a WHERE d.job_id = a.job_id AND d.upstream_id = $1
       ), changed AS (
         UPDATE jobs j SET
           unmet_dependencies = j.unmet_dependencies + (a.state = 'met')::integer,
           status = CASE WHEN j.status = 'skipped' AND NOT o.unmet THEN 'blocked' ELSE j.status END,
           skip_reason = CASE WHEN j.status = 'skipped' AND NOT o.unmet THEN NULL ELSE j.skip_reason END,
           completed_at = CASE WHEN j.status = 'skipped' AND NOT o.unmet THEN NULL ELSE j.completed_at END,
           updated_at = now()
           FROM affected a
           CROSS JOIN LATERAL (
             SELECT EXISTS (SELECT 1 FROM job_dependencies o
                             WHERE o.job_id = a.job_id AND o.upstream_id <> $1 AND o.state = 'unmet') AS unmet
           ) o
          WHERE j.id = a.job_id
         RETURNING j.id, j.name, j.status, j.array_size, (j.completed_at IS NULL AND a.state = 'unmet') AS reblocked
       ), attempts AS (
         INSERT INTO tasks (job_id, index, attempt, priority, labels, status)
         SELECT DISTINCT ON (t.job_id, t.index) t.job_id, t.index, t.attempt + 1, t.priority, t.labels, 'blocked'
           FROM tasks t JOIN changed c ON c.id = t.job_id AND c.reblocked
          ORDER BY t.job_id, t.index, t.attempt DESC
       )
       SELECT id, name, status, array_size, false AS released, reblocked FROM changed`,
      [upstreamId],
    );
    return rows;
  },

  /** The dependencies and inputs of jobs, for their API view; two small reads in one statement. */
  async ofJobs(
    db: Queryable,
    jobIds: readonly string[],
  ): Promise<{ dependencies: Map<string, JobDependency[]>; inputs: Map<string, JobInput[]> }> {
    const dependencies = new Map<string, JobDependency[]>();
    const inputs = new Map<string, JobInput[]>();
    if (jobIds.length === 0) return { dependencies, inputs };
    const { rows } = await db.query<{ kind: 'dependency' | 'input'; owner: string; item: JobDependency & JobInput }>(
      prepared(`SELECT 'dependency' AS kind, d.job_id AS owner, d.position,
              json_build_object('job_id', d.upstream_id, 'name', u.name, 'condition', d.condition, 'state', d.state) AS item
         FROM job_dependencies d JOIN jobs u ON u.id = d.upstream_id
        WHERE d.job_id = ANY($1::uuid[])
       UNION ALL
       SELECT 'input', i.job_id, i.position,
              json_build_object('job_id', i.upstream_id, 'artifacts', i.artifacts, 'path', i.path,
                                'element', CASE WHEN i.same_element THEN 'same' ELSE 'all' END)
         FROM job_inputs i WHERE i.job_id = ANY($1::uuid[])
       ORDER BY 2, 1, 3`),
      [jobIds],
    );
    for (const { kind, owner, item } of rows) {
      const map: Map<string, unknown[]> = kind === 'dependency' ? dependencies : inputs;
      const list = map.get(owner) ?? [];
      list.push(item);
      map.set(owner, list);
    }
    return { dependencies, inputs };
  },

  /** Whether the runner holds a live task of a job that takes this file from an upstream job's artifacts. */
  async runnerHoldsUpstreamArtifact(db: Queryable, runnerId: string, fileId: string): Promise<boolean> {
    const { rows } = await db.query(
      `SELECT 1 FROM tasks held
         JOIN job_inputs i ON i.job_id = held.job_id
         JOIN tasks t ON t.job_id = i.upstream_id AND t.status = 'succeeded'
         JOIN artifacts a ON a.task_id = t.id AND a.file_id = $2
        WHERE held.runner_id = $1 AND held.status IN ('assigned', 'running') LIMIT 1`,
      [runnerId, fileId],
    );
    return rows.length > 0;
  },

  /** Jobs downstream of these, transitively, that have not ended, the farthest first. */
  async openDownstream(db: Queryable, jobIds: readonly string[]): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `WITH RECURSIVE down(id, depth) AS (
         SELECT d.job_id, 1 FROM job_dependencies d WHERE d.upstream_id = ANY($1::uuid[])
         UNION
         SELECT d.job_id, down.depth + 1 FROM job_dependencies d JOIN down ON d.upstream_id = down.id
          WHERE down.depth < 100
       )
       SELECT j.id FROM jobs j JOIN down ON down.id = j.id WHERE j.completed_at IS NULL
        GROUP BY j.id ORDER BY max(down.depth) DESC, j.id`,
      [jobIds],
    );
    return rows.map((r) => r.id);
  },

  /**
   * A job's graph: the job, every job upstream and downstream of it (transitively), and, when
   * it came in a pipeline, the rest of the pipeline; at most `limit` jobs, nearest first, with
   * the dependencies among them.
   */
  async graph(
    db: Queryable,
    jobId: string,
    limit: number,
  ): Promise<{ nodes: GraphNode[]; edges: GraphEdge[]; truncated: boolean }> {
    const { rows: nodes } = await db.query<GraphNode>(
      `WITH RECURSIVE up(id, depth) AS (
         SELECT $1::uuid, 0
         UNION
         SELECT d.upstream_id, up.depth + 1 FROM job_dependencies d JOIN up ON d.job_id = up.id WHERE up.depth < 100
       ), down(id, depth) AS (
         SELECT $1::uuid, 0
         UNION
         SELECT d.job_id, down.depth + 1 FROM job_dependencies d JOIN down ON d.upstream_id = down.id WHERE down.depth < 100
       ), reached AS (
         SELECT id, min(depth) AS depth FROM (
           SELECT * FROM up UNION ALL SELECT * FROM down
           UNION ALL
           SELECT p.id, 1000 FROM jobs self JOIN jobs p ON p.pipeline_id = self.pipeline_id WHERE self.id = $1
         ) r GROUP BY id
       )
       SELECT j.id, j.name, j.status, j.array_size FROM reached r JOIN jobs j ON j.id = r.id
        ORDER BY r.depth, j.created_at, j.id LIMIT $2`,
      [jobId, limit + 1],
    );
    const truncated = nodes.length > limit;
    const kept = nodes.slice(0, limit);
    const { rows: edges } = await db.query<GraphEdge>(
      `SELECT d.upstream_id AS "from", d.job_id AS "to", d.condition, d.state FROM job_dependencies d
        WHERE d.job_id = ANY($1::uuid[]) AND d.upstream_id = ANY($1::uuid[]) ORDER BY d.job_id, d.position`,
      [kept.map((n) => n.id)],
    );
    return { nodes: kept, edges, truncated };
  },
};
