import type { GpuDevice, JobType, ParsedConstraint, ResourceRequest } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import type { PlacementRunner } from './placement-rules.ts';

/** A runner the mothership still knows: not deleted, and online or heard from in the last 7 days. */
const KNOWN = `r.deleted_at IS NULL AND (r.status = 'online' OR r.last_heartbeat > now() - interval '7 days')`;

/** A row as the statement gives it: the runner's own fields as placement reads them, then the raw rest. */
interface PlacementRow extends Pick<
  PlacementRunner,
  'id' | 'name' | 'online' | 'draining' | 'approved' | 'labels' | 'attributes'
> {
  job_types: PlacementRunner['jobTypes'];
  capacity: { cpu: number; memory_mb: number; gpus?: GpuDevice[] | null } | null;
  gpu_samples: Record<string, { memory_free_mb?: number | null }>;
  max_concurrent_tasks: number;
  used: number;
  cpu_used: number;
  memory_used_mb: number;
  holders: Record<string, string>;
  unmet: number[];
}

/** A runner to judge, with the positions of the job's constraints it does not meet. */
export interface JudgedRunner {
  runner: PlacementRunner;
  unmet: number[];
}

function toJudged(row: PlacementRow): JudgedRunner {
  return {
    runner: {
      id: row.id,
      name: row.name,
      online: row.online,
      draining: row.draining,
      approved: row.approved,
      labels: row.labels,
      attributes: row.attributes,
      jobTypes: row.job_types,
      capacity: row.capacity && { cpu: row.capacity.cpu, memory_mb: row.capacity.memory_mb },
      usage: { cpu: row.cpu_used, memory_mb: row.memory_used_mb },
      gpus: (row.capacity?.gpus ?? []).map((gpu) => ({
        index: gpu.index,
        memory_mb: gpu.memory_mb ?? null,
        free_mb: row.gpu_samples[String(gpu.index)]?.memory_free_mb ?? gpu.memory_free_mb ?? gpu.memory_mb ?? null,
        holder: row.holders[String(gpu.index)] ?? null,
      })),
      slots: { max: row.max_concurrent_tasks, used: row.used },
    },
    unmet: row.unmet,
  };
}

const constraintsParam = (constraints: readonly ParsedConstraint[]) =>
  constraints.length === 0 ? null : JSON.stringify(constraints);

/** SQL for placement: which runners could take a job's tasks, and what each lacks. */
export const placementStore = {
  /**
   * Whether any runner is known, and whether one of them could ever take a task asking this:
   * its job types, labels, its attributes (borg_constraints_unmet) and its total capacity, as the claim
   * checks them. One statement; each EXISTS stops at the first runner that answers it.
   */
  async couldEverTake(
    db: Queryable,
    demand: {
      labels: Record<string, string>;
      constraints: readonly ParsedConstraint[];
      resources: ResourceRequest;
      type?: JobType;
    },
  ): Promise<{ known: boolean; fits: boolean }> {
    const { rows } = await db.query<{ known: boolean; fits: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM runners r WHERE ${KNOWN}) AS known,
              EXISTS (
                SELECT 1 FROM runners r
                 WHERE ${KNOWN} AND r.labels @> $1::jsonb
                   AND ($4::text IS NULL OR r.job_types IS NULL OR $4::text = ANY (r.job_types))
                   AND ($2::jsonb IS NULL OR cardinality(borg_constraints_unmet($2::jsonb, r.attributes)) = 0)
                   AND coalesce(($3::jsonb ->> 'cpu')::numeric, 0) <= coalesce((r.capacity ->> 'cpu')::numeric, 0)
                   AND coalesce(($3::jsonb ->> 'memory_mb')::numeric, 0) <= coalesce((r.capacity ->> 'memory_mb')::numeric, 0)
                   AND coalesce(($3::jsonb ->> 'gpus')::integer, 0) <= (
                     SELECT count(*) FROM jsonb_array_elements(coalesce(r.capacity -> 'gpus', '[]')) g
                      WHERE coalesce((g ->> 'memory_mb')::numeric, (g ->> 'memory_free_mb')::numeric, 0)
                            >= coalesce(($3::jsonb ->> 'gpu_memory_mb')::numeric, 0))
              ) AS fits`,
      [
        JSON.stringify(demand.labels),
        constraintsParam(demand.constraints),
        JSON.stringify(demand.resources),
        demand.type ?? null,
      ],
    );
    return rows[0]!;
  },

  /**
   * Every runner (not deleted; with `knownOnly`, those seen in the last 7 days) with what
   * placement reads, and the positions of `constraints` it does not meet, in one statement.
   * What live tasks hold is summed by one grouped pass over the live tasks rather than a
   * subquery per runner. The rows come back as one JSON text, parsed once: at 10,000 runners
   * that is several times faster than rows of jsonb fields (PGlite decodes each field on its
   * own). Attributes come only with a constraint unmet (the reasons quote them), GPUs only
   * when `withGpus`.
   */
  async runners(
    db: Queryable,
    constraints: readonly ParsedConstraint[],
    options: { knownOnly: boolean; withGpus: boolean },
  ): Promise<JudgedRunner[]> {
    const { rows } = await db.query<{ runners: string }>(
      `WITH live AS (
         SELECT t.runner_id, count(*)::integer AS used,
                coalesce(sum((j.resources ->> 'cpu')::numeric), 0)::float8 AS cpu_used,
                coalesce(sum((j.resources ->> 'memory_mb')::numeric), 0)::float8 AS memory_used_mb
           FROM tasks t JOIN jobs j ON j.id = t.job_id
          WHERE t.status IN ('assigned', 'running')
          GROUP BY t.runner_id
       ), held AS (
         SELECT t.runner_id, jsonb_object_agg(g ->> 'index', t.id) AS holders
           FROM tasks t, jsonb_array_elements(t.gpus) g
          WHERE $2::boolean AND t.status IN ('assigned', 'running') AND t.gpus <> '[]'
          GROUP BY t.runner_id
       )
       SELECT coalesce(json_agg(x), '[]')::text AS runners FROM (
         SELECT r.id, r.name, r.status = 'online' AS online, r.draining, r.approved_at IS NOT NULL AS approved,
                r.labels, CASE WHEN cardinality(u.unmet) > 0 THEN r.attributes ELSE '{}' END AS attributes, r.job_types,
                CASE WHEN r.capacity IS NULL THEN NULL
                     ELSE jsonb_build_object('cpu', r.capacity -> 'cpu', 'memory_mb', r.capacity -> 'memory_mb',
                                             'gpus', CASE WHEN $2::boolean THEN r.capacity -> 'gpus' END) END AS capacity,
                CASE WHEN $2::boolean THEN r.gpu_samples ELSE '{}' END AS gpu_samples,
                r.max_concurrent_tasks, coalesce(live.used, 0) AS used,
                coalesce(live.cpu_used, 0) AS cpu_used, coalesce(live.memory_used_mb, 0) AS memory_used_mb,
                coalesce(held.holders, '{}') AS holders, u.unmet
           FROM runners r
           LEFT JOIN live ON live.runner_id = r.id
           LEFT JOIN held ON held.runner_id = r.id
           CROSS JOIN LATERAL (
             SELECT CASE WHEN $1::jsonb IS NULL THEN '{}'::integer[]
                         ELSE borg_constraints_unmet($1::jsonb, r.attributes) END AS unmet
             OFFSET 0
           ) u
          WHERE ${options.knownOnly ? KNOWN : 'r.deleted_at IS NULL'}
       ) x`,
      [constraintsParam(constraints), options.withGpus],
    );
    return (JSON.parse(rows[0]!.runners) as PlacementRow[]).map(toJudged);
  },
};
