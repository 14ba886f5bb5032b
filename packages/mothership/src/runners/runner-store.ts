import {
  type GpuDevice,
  type JobType,
  type Runner,
  type RunnerGpu,
  type RunnerStatus,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';

interface RunnerRow {
  id: string;
  device_id: string;
  name: string;
  hostname: string;
  os: string;
  arch: string;
  version: string | null;
  protocol_version: number;
  status: 'online' | 'offline';
  offline_reason: 'stopped' | null;
  draining: boolean;
  approved_at: Date | null;
  max_concurrent_tasks: number;
  active_tasks: number;
  labels: Record<string, string>;
  resources: Record<string, unknown>;
  capacity: { cpu: number; memory_mb: number; gpus: GpuDevice[] } | null;
  attributes: Record<string, string>;
  job_types: JobType[] | null;
  gpu_samples: Record<string, GpuSampleState>;
  /** What the live tasks hold: CPU, memory, and the task holding each GPU (by index). */
  usage: { cpu: number; memory_mb: number; gpu_holders: Record<string, string> };
  last_heartbeat: Date | null;
  created_at: Date;
}

/** The last sample of one GPU, as runners.gpu_samples keeps it. */
export interface GpuSampleState {
  utilization_pct: number | null;
  memory_used_mb: number | null;
  memory_free_mb: number | null;
  at: string;
}

function runnerGpus(row: RunnerRow): RunnerGpu[] {
  return (row.capacity?.gpus ?? []).map((gpu) => {
    const sample = row.gpu_samples[String(gpu.index)];
    return {
      ...gpu,
      utilization_pct: sample?.utilization_pct ?? null,
      memory_used_mb: sample?.memory_used_mb ?? null,
      memory_free_mb: sample?.memory_free_mb ?? gpu.memory_free_mb,
      sampled_at: sample?.at ?? null,
      task_id: row.usage.gpu_holders[String(gpu.index)] ?? null,
    };
  });
}

/** `busy` and `draining` are views of an online runner, not stored states. */
function apiStatus(row: RunnerRow): RunnerStatus {
  if (row.status === 'offline') return 'offline';
  if (row.draining) return 'draining';
  return row.active_tasks > 0 ? 'busy' : 'online';
}

export function toRunner(row: RunnerRow): Runner {
  return {
    id: row.id,
    device_id: row.device_id,
    name: row.name,
    hostname: row.hostname,
    os: row.os,
    arch: row.arch,
    version: row.version,
    protocol_version: row.protocol_version,
    protocol_supported: SUPPORTED_PROTOCOL_VERSIONS.includes(row.protocol_version),
    status: apiStatus(row),
    offline_reason: row.status === 'offline' ? row.offline_reason : null,
    draining: row.draining,
    approved: row.approved_at !== null,
    max_concurrent_tasks: row.max_concurrent_tasks,
    active_tasks: row.active_tasks,
    labels: row.labels,
    resources: row.resources,
    capacity: row.capacity && {
      cpu: row.capacity.cpu,
      memory_mb: row.capacity.memory_mb,
      cpu_used: row.usage.cpu,
      memory_used_mb: row.usage.memory_mb,
    },
    gpus: runnerGpus(row),
    attributes: row.attributes,
    job_types: row.job_types,
    last_heartbeat: row.last_heartbeat?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}

// active_tasks and what the live tasks hold are counted from the tasks themselves rather than
// stored, so they cannot drift from the truth (invariant I7); the partial index
// tasks_runner_live_idx makes it cheap.
const RUNNER_COLUMNS = `r.id, r.device_id, r.name, r.hostname, r.os, r.arch, r.version, r.protocol_version, r.status,
  r.offline_reason, r.draining, r.approved_at, r.max_concurrent_tasks, r.labels, r.resources, r.capacity, r.attributes, r.job_types,
  r.gpu_samples, r.last_heartbeat, r.created_at,
  (SELECT count(*)::integer FROM tasks t
    WHERE t.runner_id = r.id AND t.status IN ('assigned', 'running')) AS active_tasks,
  (SELECT jsonb_build_object(
            'cpu', coalesce(sum((j.resources ->> 'cpu')::numeric), 0),
            'memory_mb', coalesce(sum((j.resources ->> 'memory_mb')::numeric), 0),
            'gpu_holders', coalesce((SELECT jsonb_object_agg(g ->> 'index', t2.id) FROM tasks t2, jsonb_array_elements(t2.gpus) g
                                      WHERE t2.runner_id = r.id AND t2.status IN ('assigned', 'running')), '{}'))
     FROM tasks t JOIN jobs j ON j.id = t.job_id
    WHERE t.runner_id = r.id AND t.status IN ('assigned', 'running')) AS usage`;

// Deleted runners are in no answer: every caller adds its condition to this WHERE.
const SELECT_RUNNER = `SELECT ${RUNNER_COLUMNS} FROM runners r WHERE r.deleted_at IS NULL`;

export interface RunnerRegistration {
  device_id: string;
  name: string;
  hostname: string;
  os: string;
  arch: string;
  version: string | null;
  protocol_version: number;
  max_concurrent_tasks: number;
  labels: Record<string, string>;
  resources: Record<string, unknown>;
  /** What it offers to tasks that ask for resources; null: it sent none. */
  capacity: { cpu: number; memory_mb: number; gpus: GpuDevice[] } | null;
  /** Labels over what detection knows: what constraint expressions read. */
  attributes: Record<string, string>;
  /** The job types it takes; null: every type (or not said). */
  job_types: JobType[] | null;
  /** The registration token that registered the device first; kept on later registrations. */
  registered_with: string | null;
  /** False when the runner must wait for an operator's approval; kept on later registrations. */
  approved: boolean;
}

/** SQL for runners. It knows nothing of jobs or tasks beyond counting a runner's live ones. */
export const runnerStore = {
  async get(db: Queryable, id: string): Promise<Runner | null> {
    const { rows } = await db.query<RunnerRow>(prepared(`${SELECT_RUNNER} AND r.id = $1`), [id]);
    return rows[0] ? toRunner(rows[0]) : null;
  },

  /**
   * What a long-poll needs, in one read: the labels the runner carries, and whether any pending
   * task at all is claimable now (tasks_pending_available_idx). Null for an unknown runner.
   */
  async forLongPoll(db: Queryable, id: string): Promise<{ labels: Record<string, string>; claimable: boolean } | null> {
    const { rows } = await db.query<{ labels: Record<string, string>; claimable: boolean }>(
      `SELECT r.labels,
              EXISTS (SELECT 1 FROM tasks t WHERE t.status = 'pending' AND t.available_at <= now()) AS claimable
         FROM runners r WHERE r.id = $1 AND r.deleted_at IS NULL`,
      [id],
    );
    return rows[0] ?? null;
  },

  /** Ids from `low` to `high` (an id prefix's range) of runners not deleted, with names. */
  async idsBetween(db: Queryable, low: string, high: string, limit: number): Promise<{ id: string; name: string }[]> {
    const { rows } = await db.query<{ id: string; name: string }>(
      'SELECT id, name FROM runners WHERE deleted_at IS NULL AND id BETWEEN $1 AND $2 ORDER BY id LIMIT $3',
      [low, high, limit],
    );
    return rows;
  },

  async getMany(db: Queryable, ids: readonly string[]): Promise<Runner[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query<RunnerRow>(`${SELECT_RUNNER} AND r.id = ANY($1::uuid[])`, [ids]);
    return rows.map(toRunner);
  },

  /**
   * Newest first; the cursor is the last row's (created_at, id). Compared at millisecond
   * precision, the precision of the created_at the API shows, so the cursor is exact.
   */
  async list(db: Queryable, limit: number, after?: { createdAt: string; id: string }): Promise<Runner[]> {
    const params: unknown[] = [limit];
    let where = '';
    if (after) {
      params.push(after.createdAt, after.id);
      where = "AND (date_trunc('milliseconds', r.created_at), r.id) < ($2::timestamptz, $3::uuid)";
    }
    const { rows } = await db.query<RunnerRow>(
      `${SELECT_RUNNER} ${where} ORDER BY date_trunc('milliseconds', r.created_at) DESC, r.id DESC LIMIT $1`,
      params,
    );
    return rows.map(toRunner);
  },

  /**
   * Creates the runner for a new device or refreshes a known one (same id). Returns whether the
   * device was known, so the caller can end the previous session's tasks.
   */
  async upsert(db: Queryable, reg: RunnerRegistration): Promise<{ id: string; existed: boolean } | null> {
    const { rows } = await db.query<{ id: string; existed: boolean }>(
      `INSERT INTO runners (device_id, name, hostname, os, arch, version, max_concurrent_tasks, labels, resources,
                            status, last_heartbeat, registered_with, approved_at, protocol_version, capacity,
                            attributes, job_types)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, 'online', now(), $10,
               CASE WHEN $11::boolean THEN now() END, $12, $13::jsonb, $14::jsonb, $15::text[])
       ON CONFLICT (device_id) DO UPDATE SET
         name = EXCLUDED.name, hostname = EXCLUDED.hostname, os = EXCLUDED.os, arch = EXCLUDED.arch,
         version = EXCLUDED.version, protocol_version = EXCLUDED.protocol_version,
         max_concurrent_tasks = EXCLUDED.max_concurrent_tasks,
         labels = EXCLUDED.labels, resources = EXCLUDED.resources, capacity = EXCLUDED.capacity,
         attributes = EXCLUDED.attributes, job_types = EXCLUDED.job_types, gpu_samples = '{}',
         status = 'online', offline_reason = NULL, last_heartbeat = now(), updated_at = now()
         WHERE runners.deleted_at IS NULL
       RETURNING id, (xmax <> 0) AS existed`,
      [
        reg.device_id,
        reg.name,
        reg.hostname,
        reg.os,
        reg.arch,
        reg.version,
        reg.max_concurrent_tasks,
        JSON.stringify(reg.labels),
        JSON.stringify(reg.resources),
        reg.registered_with,
        reg.approved,
        reg.protocol_version,
        reg.capacity === null ? null : JSON.stringify(reg.capacity),
        JSON.stringify(reg.attributes),
        reg.job_types,
      ],
    );
    return rows[0] ?? null;
  },

  /** The device's runner, deleted or not, locked until the registration that asks commits. */
  async lockByDevice(
    db: Queryable,
    deviceId: string,
  ): Promise<{ id: string; registered_with: string | null; deleted: boolean; offline: boolean } | null> {
    const { rows } = await db.query<{ id: string; registered_with: string | null; deleted: boolean; offline: boolean }>(
      `SELECT id, registered_with, deleted_at IS NOT NULL AS deleted, status = 'offline' AS offline
         FROM runners WHERE device_id = $1 FOR UPDATE`,
      [deviceId],
    );
    return rows[0] ?? null;
  },

  /** Lets a runner waiting for approval take work; false for an unknown or deleted runner. */
  async approve(db: Queryable, id: string): Promise<boolean> {
    const { rowCount } = await db.query(
      'UPDATE runners SET approved_at = coalesce(approved_at, now()), updated_at = now() WHERE id = $1 AND deleted_at IS NULL',
      [id],
    );
    return rowCount > 0;
  },

  /** Marks a runner deleted (and offline, so nothing claims for it); false when it was unknown or gone. */
  async markDeleted(db: Queryable, id: string): Promise<boolean> {
    const { rowCount } = await db.query(
      `UPDATE runners SET deleted_at = now(), status = 'offline', updated_at = now()
        WHERE id = $1 AND deleted_at IS NULL`,
      [id],
    );
    return rowCount > 0;
  },

  /**
   * Records a heartbeat (database clock). Returns whether the runner had been marked offline,
   * and the runner as it is now (for the runner.updated event, without reading it again). A
   * `leaving` heartbeat (the solder stopped cleanly) marks it offline, stopped, at once.
   */
  async heartbeat(
    db: Queryable,
    id: string,
    resources: Record<string, unknown> | undefined,
    leaving = false,
  ): Promise<{ wasOffline: boolean; draining: boolean; runner: Runner } | null> {
    const { rows } = await db.query<RunnerRow & { was_offline: boolean }>(
      prepared(`UPDATE runners r SET last_heartbeat = now(), updated_at = now(),
              status = CASE WHEN $3::boolean THEN 'offline' ELSE 'online' END,
              offline_reason = CASE WHEN $3::boolean THEN 'stopped' END,
              resources = coalesce($2::jsonb, r.resources)
         FROM (SELECT status AS old_status FROM runners WHERE id = $1) old
        WHERE r.id = $1 AND r.deleted_at IS NULL
        RETURNING old.old_status = 'offline' AS was_offline, ${RUNNER_COLUMNS}`),
      [id, resources ? JSON.stringify(resources) : null, leaving],
    );
    const row = rows[0];
    return row ? { wasOffline: row.was_offline, draining: row.draining, runner: toRunner(row) } : null;
  },

  async setDraining(db: Queryable, id: string, draining: boolean): Promise<boolean> {
    const { rowCount } = await db.query(
      'UPDATE runners SET draining = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL',
      [id, draining],
    );
    return rowCount > 0;
  },

  /** Marks runners silent since before the cutoff offline (database clock) and returns their ids. */
  async markSilentOffline(db: Queryable, silentSeconds: number): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `UPDATE runners SET status = 'offline', updated_at = now()
        WHERE status = 'online' AND last_heartbeat < now() - make_interval(secs => $1::integer)
        RETURNING id`,
      [silentSeconds],
    );
    return rows.map((r) => r.id);
  },

  /** Runners (not deleted) that speak a runner protocol version this mothership does not. */
  async countUnsupportedProtocol(db: Queryable): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM runners
        WHERE deleted_at IS NULL AND NOT (protocol_version = ANY($1::integer[]))`,
      [SUPPORTED_PROTOCOL_VERSIONS],
    );
    return rows[0]?.n ?? 0;
  },

  async countByStatus(db: Queryable): Promise<Record<RunnerStatus, number>> {
    const { rows } = await db.query<{ status: RunnerStatus; n: number }>(
      `SELECT CASE WHEN r.status = 'offline' THEN 'offline'
                   WHEN r.draining THEN 'draining'
                   WHEN EXISTS (SELECT 1 FROM tasks t WHERE t.runner_id = r.id AND t.status IN ('assigned', 'running'))
                     THEN 'busy'
                   ELSE 'online' END AS status,
              count(*)::integer AS n
         FROM runners r WHERE r.deleted_at IS NULL GROUP BY 1`,
    );
    const counts: Record<RunnerStatus, number> = { online: 0, busy: 0, draining: 0, offline: 0 };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  },
};
