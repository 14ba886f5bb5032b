import type { Artifact } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

interface ArtifactRow {
  id: string;
  file_id: string;
  task_id: string;
  path: string;
  size: string | number;
  sha256: string;
  created_at: Date;
}

export interface TaskHolder {
  runner_id: string | null;
  status: string;
}

export const toArtifact = (row: ArtifactRow): Artifact => ({
  id: row.id,
  file_id: row.file_id,
  task_id: row.task_id,
  path: row.path,
  size: Number(row.size),
  sha256: row.sha256,
  created_at: row.created_at.toISOString(),
});

const SELECT_ARTIFACT = `SELECT a.id, a.file_id, a.task_id, a.path, f.size, f.sha256, a.created_at
  FROM artifacts a JOIN files f ON f.id = a.file_id`;

/** Every statement about artifacts (files a task produced, at a path of its work directory). */
export const artifactStore = {
  /**
   * Who holds a task and in what state, or null when it does not exist. With `lockForShare`,
   * the row is share-locked until the transaction ends, so an ending in progress is waited for.
   */
  async holderOf(db: Queryable, taskId: string, lockForShare = false): Promise<TaskHolder | null> {
    const { rows } = await db.query<TaskHolder>(
      `SELECT runner_id, status FROM tasks WHERE id = $1${lockForShare ? ' FOR SHARE' : ''}`,
      [taskId],
    );
    return rows[0] ?? null;
  },

  /** Records the artifact; null when the task already has one at that path. */
  async insert(db: Queryable, taskId: string, fileId: string, path: string): Promise<string | null> {
    // The file becomes an artifact's: retention frees it with its last artifact row, not as an unused upload.
    const { rows } = await db.query<{ id: string }>(
      `WITH a AS (
         INSERT INTO artifacts (task_id, file_id, path) VALUES ($1, $2, $3)
         ON CONFLICT (task_id, path) DO NOTHING RETURNING id, file_id
       ), marked AS (
         UPDATE files SET kind = 'artifact' WHERE id IN (SELECT file_id FROM a)
       )
       SELECT id FROM a`,
      [taskId, fileId, path],
    );
    return rows[0]?.id ?? null;
  },

  async get(db: Queryable, id: string): Promise<Artifact | null> {
    const { rows } = await db.query<ArtifactRow>(`${SELECT_ARTIFACT} WHERE a.id = $1`, [id]);
    return rows[0] ? toArtifact(rows[0]) : null;
  },

  async atPath(db: Queryable, taskId: string, path: string): Promise<Artifact | null> {
    const { rows } = await db.query<ArtifactRow>(`${SELECT_ARTIFACT} WHERE a.task_id = $1 AND a.path = $2`, [
      taskId,
      path,
    ]);
    return rows[0] ? toArtifact(rows[0]) : null;
  },

  async listOfTask(db: Queryable, taskId: string): Promise<Artifact[]> {
    const { rows } = await db.query<ArtifactRow>(`${SELECT_ARTIFACT} WHERE a.task_id = $1 ORDER BY a.path`, [taskId]);
    return rows.map(toArtifact);
  },

  /** Whether the runner holds a live task of a job that takes the file as an input. */
  async runnerHoldsInput(db: Queryable, runnerId: string, fileId: string): Promise<boolean> {
    const { rows } = await db.query(
      `SELECT 1 FROM job_files jf JOIN tasks t ON t.job_id = jf.job_id
        WHERE jf.file_id = $1 AND t.runner_id = $2 AND t.status IN ('assigned', 'running') LIMIT 1`,
      [fileId, runnerId],
    );
    return rows.length > 0;
  },
};
