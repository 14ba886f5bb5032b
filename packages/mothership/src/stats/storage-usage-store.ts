import type { StorageUsage } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

interface UsageRow {
  at: Date;
  log_bytes: number;
  log_chunks: number;
  artifact_bytes: number;
  artifact_count: number;
  file_bytes: number;
  file_count: number;
}

/**
 * What logs, artifacts and uploaded files take. Logs: the chunk table as PostgreSQL stores it
 * (heap, TOAST with the compressed lines, and the primary key), from the catalogue in constant
 * time, and its chunks counted on the primary key. Files: one pass over `files`, summing `size`
 * by `kind` (an artifact's file, or an upload; migration 0021). Counting still reads every row
 * (about 0.5 s for a million files and a million chunks on PostgreSQL 15), so callers cache the
 * answer (storage-usage-cache.ts).
 */
export const storageUsageStore = {
  async read(db: Queryable): Promise<StorageUsage> {
    const { rows } = await db.query<UsageRow>(
      `SELECT now() AS at,
              pg_total_relation_size('task_log_chunks')::float8 AS log_bytes,
              (SELECT count(*) FROM task_log_chunks)::float8 AS log_chunks,
              coalesce(sum(size) FILTER (WHERE kind = 'artifact'), 0)::float8 AS artifact_bytes,
              count(*) FILTER (WHERE kind = 'artifact')::float8 AS artifact_count,
              coalesce(sum(size) FILTER (WHERE kind = 'upload'), 0)::float8 AS file_bytes,
              count(*) FILTER (WHERE kind = 'upload')::float8 AS file_count
         FROM files`,
    );
    const row = rows[0]!;
    return {
      logs: { bytes: row.log_bytes, count: row.log_chunks },
      artifacts: { bytes: row.artifact_bytes, count: row.artifact_count },
      files: { bytes: row.file_bytes, count: row.file_count },
      measured_at: new Date(row.at).toISOString(),
    };
  },
};
