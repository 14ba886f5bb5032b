import type { Queryable } from '../db/database.ts';

/**
 * What keeps an ended job (alias `j`) from being deleted whatever its age: being among the
 * newest `keep_last` jobs of its name, or a job downstream of it that has not ended (it may
 * still need the job's artifacts, and a retry of the job would reopen it).
 */
const KEPT_FOR_OTHERS = `
  (j.keep_last IS NOT NULL AND (SELECT count(*) FROM (SELECT 1 FROM jobs n
     WHERE n.name = j.name AND n.created_at > j.created_at LIMIT j.keep_last) newer) < j.keep_last)
  OR EXISTS (SELECT 1 FROM job_dependencies d JOIN jobs dj ON dj.id = d.job_id
              WHERE d.upstream_id = j.id AND dj.completed_at IS NULL)`;

/** A job the sweep may delete, with what its batch is sized by. */
export interface ExpiredJob {
  id: string;
  array_size: number;
}

/** Why a job may not be deleted now; null when it may. */
export interface DeletionBlock {
  pinned: boolean;
  ended: boolean;
  /** An unfinished job downstream of it. */
  downstream: { id: string; name: string } | null;
}

/** A job's own keeping rules; an absent field stays as it is. */
export interface JobKeeping {
  pinned?: boolean | undefined;
  retention_seconds?: number | null | undefined;
  keep_last?: number | null | undefined;
}

/** The SQL of retention: which rows have expired, and deleting them with what hangs off them. */
export const retentionStore = {
  async setKeeping(db: Queryable, id: string, keeping: JobKeeping): Promise<void> {
    await db.query(
      `UPDATE jobs SET pinned = CASE WHEN $2 THEN $3 ELSE pinned END,
                       retention_seconds = CASE WHEN $4 THEN $5::bigint ELSE retention_seconds END,
                       keep_last = CASE WHEN $6 THEN $7::integer ELSE keep_last END,
                       updated_at = now()
        WHERE id = $1`,
      [
        id,
        keeping.pinned !== undefined,
        keeping.pinned ?? false,
        keeping.retention_seconds !== undefined,
        keeping.retention_seconds ?? null,
        keeping.keep_last !== undefined,
        keeping.keep_last ?? null,
      ],
    );
  },

  /**
   * Up to `limit` ended jobs past their retention (their own, or `defaultSeconds`; null: the
   * default keeps them), oldest ending first, locked for deletion. A job someone is changing
   * (retrying it, say) is skipped, not waited for.
   */
  async lockExpiredJobs(db: Queryable, defaultSeconds: number | null, limit: number): Promise<ExpiredJob[]> {
    const { rows } = await db.query<ExpiredJob>(
      `SELECT j.id, j.array_size FROM jobs j
        WHERE j.id IN (
                (SELECT j.id FROM jobs j
                  WHERE j.completed_at IS NOT NULL AND j.retention_seconds IS NULL AND NOT j.pinned
                    AND j.completed_at < now() - $1::bigint * interval '1 second'
                    AND NOT (${KEPT_FOR_OTHERS})
                  ORDER BY j.completed_at LIMIT $2)
                UNION ALL
                (SELECT j.id FROM jobs j
                  WHERE j.completed_at IS NOT NULL AND j.retention_seconds IS NOT NULL AND NOT j.pinned
                    AND j.completed_at < now() - j.retention_seconds * interval '1 second'
                    AND NOT (${KEPT_FOR_OTHERS})
                  ORDER BY j.completed_at LIMIT $2))
          AND j.completed_at IS NOT NULL AND NOT j.pinned
        ORDER BY j.completed_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED`,
      [defaultSeconds, limit],
    );
    return rows;
  },

  /** What stops a job (locked by the caller) from being deleted by a person now. */
  async deletionBlock(db: Queryable, id: string): Promise<DeletionBlock> {
    const { rows } = await db.query<{ pinned: boolean; ended: boolean; downstream_id: string | null; name: string }>(
      `SELECT j.pinned, j.completed_at IS NOT NULL AS ended, dj.id AS downstream_id, dj.name
         FROM jobs j
         LEFT JOIN LATERAL (SELECT dj.id, dj.name FROM job_dependencies d JOIN jobs dj ON dj.id = d.job_id
                             WHERE d.upstream_id = j.id AND dj.completed_at IS NULL
                             ORDER BY dj.created_at LIMIT 1) dj ON true
        WHERE j.id = $1`,
      [id],
    );
    const row = rows[0]!;
    return {
      pinned: row.pinned,
      ended: row.ended,
      downstream: row.downstream_id ? { id: row.downstream_id, name: row.name } : null,
    };
  },

  /**
   * Deletes jobs (locked by the caller) with their attempts, logs, artifacts, dependency edges
   * and input lists (the foreign keys cascade), and pipelines left without a job. Returns the
   * files their artifacts and input lists used, for freeArtifactFiles.
   */
  async deleteJobs(db: Queryable, ids: readonly string[]): Promise<string[]> {
    const { rows } = await db.query<{ file_id: string }>(
      `SELECT a.file_id FROM tasks t JOIN artifacts a ON a.task_id = t.id WHERE t.job_id = ANY($1::uuid[])
       UNION
       SELECT jf.file_id FROM job_files jf WHERE jf.job_id = ANY($1::uuid[])`,
      [ids],
    );
    // Children first, a statement per table for the whole batch: the foreign keys would cascade
    // row by row, a statement per deleted row and table.
    await db.query(
      `WITH t AS (SELECT id FROM tasks WHERE job_id = ANY($1::uuid[])),
            chunks AS (DELETE FROM task_log_chunks WHERE task_id IN (SELECT id FROM t)),
            samples AS (DELETE FROM task_gpu_samples WHERE task_id IN (SELECT id FROM t)),
            artifacts AS (DELETE FROM artifacts WHERE task_id IN (SELECT id FROM t))
       DELETE FROM tasks WHERE id IN (SELECT id FROM t)`,
      [ids],
    );
    const { rows: gone } = await db.query<{ pipeline_id: string | null }>(
      'DELETE FROM jobs WHERE id = ANY($1::uuid[]) RETURNING pipeline_id',
      [ids],
    );
    const pipelines = [...new Set(gone.map((r) => r.pipeline_id).filter((id) => id !== null))];
    if (pipelines.length > 0) {
      await db.query(
        `DELETE FROM pipelines p WHERE p.id = ANY($1::uuid[])
            AND NOT EXISTS (SELECT 1 FROM jobs WHERE pipeline_id = p.id)`,
        [pipelines],
      );
    }
    return rows.map((r) => r.file_id);
  },

  /**
   * Deletes up to `limit` artifacts older than `seconds` whose job has ended and is not
   * pinned or kept for a job downstream; returns the files they used.
   */
  async deleteExpiredArtifacts(db: Queryable, seconds: number, limit: number): Promise<string[]> {
    const { rows } = await db.query<{ file_id: string }>(
      `DELETE FROM artifacts WHERE id IN (
         SELECT a.id FROM artifacts a JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = t.job_id
          WHERE a.created_at < now() - $1::bigint * interval '1 second'
            AND j.completed_at IS NOT NULL AND NOT j.pinned AND NOT (${KEPT_FOR_OTHERS})
          ORDER BY a.created_at LIMIT $2
          FOR UPDATE OF a SKIP LOCKED)
       RETURNING file_id`,
      [seconds, limit],
    );
    return rows.map((r) => r.file_id);
  },

  /**
   * Deletes the rows of artifact files among `fileIds` that nothing uses any more (no artifact,
   * no job's input list); returns the blob keys to remove once the transaction has committed.
   */
  async freeArtifactFiles(db: Queryable, fileIds: readonly string[]): Promise<string[]> {
    if (fileIds.length === 0) return [];
    const { rows } = await db.query<{ storage_key: string }>(
      `DELETE FROM files f WHERE f.id = ANY($1::uuid[]) AND f.kind = 'artifact'
          AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.file_id = f.id)
          AND NOT EXISTS (SELECT 1 FROM job_files jf WHERE jf.file_id = f.id)
       RETURNING f.storage_key`,
      [[...new Set(fileIds)]],
    );
    return rows.map((r) => r.storage_key);
  },

  /**
   * Deletes up to `limit` uploaded files older than `seconds` that no job uses; returns their
   * blob keys. A file a submit is using right now is share-locked by it and skipped.
   */
  async deleteUnusedUploads(db: Queryable, seconds: number, limit: number): Promise<string[]> {
    const { rows } = await db.query<{ storage_key: string }>(
      `DELETE FROM files WHERE id IN (
         SELECT f.id FROM files f
          WHERE f.kind = 'upload' AND f.created_at < now() - $1::bigint * interval '1 second'
            AND NOT EXISTS (SELECT 1 FROM job_files jf WHERE jf.file_id = f.id)
            AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.file_id = f.id)
          ORDER BY f.created_at LIMIT $2
          FOR UPDATE SKIP LOCKED)
       RETURNING storage_key`,
      [seconds, limit],
    );
    return rows.map((r) => r.storage_key);
  },

  /**
   * Retires up to `limit` runners offline for longer than `seconds`: gone from every list, their
   * tokens revoked, and their device free to register again as a new runner (unlike a runner an
   * operator deleted, whose device is refused). Rows stay, so old attempts still name them.
   */
  async retireOfflineRunners(
    db: Queryable,
    seconds: number,
    limit: number,
  ): Promise<{ runnerIds: string[]; revokedTokenIds: string[] }> {
    const { rows } = await db.query<{ id: string }>(
      `UPDATE runners SET deleted_at = now(), updated_at = now(), device_id = 'retired:' || id::text
        WHERE id IN (
          SELECT r.id FROM runners r
           WHERE r.status = 'offline' AND r.deleted_at IS NULL
             AND coalesce(r.last_heartbeat, r.created_at) < now() - $1::bigint * interval '1 second'
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.runner_id = r.id AND t.status IN ('assigned', 'running'))
           ORDER BY coalesce(r.last_heartbeat, r.created_at) LIMIT $2
           FOR UPDATE SKIP LOCKED)
        RETURNING id`,
      [seconds, limit],
    );
    const runnerIds = rows.map((r) => r.id);
    if (runnerIds.length === 0) return { runnerIds, revokedTokenIds: [] };
    const { rows: tokens } = await db.query<{ id: string }>(
      `UPDATE api_tokens SET revoked_at = now()
        WHERE runner_id = ANY($1::uuid[]) AND revoked_at IS NULL RETURNING id`,
      [runnerIds],
    );
    return { runnerIds, revokedTokenIds: tokens.map((t) => t.id) };
  },
};
