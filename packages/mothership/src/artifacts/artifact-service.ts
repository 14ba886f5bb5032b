import type { Readable } from 'node:stream';

import type { Artifact } from '@borg/protocol';

import type { Database } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { FileService } from '../files/file-service.ts';
import { HELD_TASK_STATUSES } from './task-states.ts';

interface ArtifactRow {
  id: string;
  file_id: string;
  task_id: string;
  path: string;
  size: string | number;
  sha256: string;
  created_at: Date;
}

const toArtifact = (row: ArtifactRow): Artifact => ({
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

/** Files that tasks produce, and the rule for which files a runner may read. */
export class ArtifactService {
  constructor(
    private readonly db: Database,
    private readonly files: FileService,
  ) {}

  /** Throws unless runnerId holds taskId right now (the same fencing as status reports). */
  async assertHolds(runnerId: string, taskId: string): Promise<void> {
    const { rows } = await this.db.query<{ runner_id: string | null; status: string }>(
      'SELECT runner_id, status FROM tasks WHERE id = $1',
      [taskId],
    );
    const task = rows[0];
    if (!task) throw notFound('task', taskId);
    if (task.runner_id !== runnerId) throw new BorgError('FORBIDDEN', `task ${taskId} is not assigned to this runner`);
    if (!(HELD_TASK_STATUSES as readonly string[]).includes(task.status)) {
      throw new BorgError('STALE_TASK', `task ${taskId} is ${task.status}: artifacts are accepted while it runs`);
    }
  }

  /**
   * Stores an artifact of a task. Uploading the same bytes to the same path again is
   * acknowledged (created: false); different bytes to a taken path is a conflict.
   */
  async upload(
    runnerId: string,
    taskId: string,
    path: string,
    source: Readable,
  ): Promise<{ artifact: Artifact; created: boolean }> {
    await this.assertHolds(runnerId, taskId);
    const file = await this.files.upload(source, path.split('/').pop());
    // Checked again when the row goes in, under a share lock on the task: the upload may have
    // taken minutes, and the server may have taken the task back meanwhile (lost, timed out).
    // The lock waits for an ending in progress, so no artifact joins an attempt that has ended.
    const rows = await this.db
      .transaction(async (tx) => {
        const { rows: held } = await tx.query<{ runner_id: string | null; status: string }>(
          'SELECT runner_id, status FROM tasks WHERE id = $1 FOR SHARE',
          [taskId],
        );
        const task = held[0];
        if (task?.runner_id !== runnerId || !(HELD_TASK_STATUSES as readonly string[]).includes(task.status)) {
          return null;
        }
        return (
          await tx.query<{ id: string }>(
            `INSERT INTO artifacts (task_id, file_id, path) VALUES ($1, $2, $3)
             ON CONFLICT (task_id, path) DO NOTHING RETURNING id`,
            [taskId, file.id, path],
          )
        ).rows;
      })
      .catch(async (error: unknown) => {
        await this.files.discard(file.id).catch(() => undefined);
        throw error;
      });
    if (rows === null) {
      await this.files.discard(file.id);
      await this.assertHolds(runnerId, taskId); // throws the 403 or 409 that fits
      throw new BorgError('STALE_TASK', `task ${taskId} ended while its artifact was uploading`);
    }
    if (rows[0]) return { artifact: await this.get(rows[0].id), created: true };

    await this.files.discard(file.id);
    const existing = (
      await this.db.query<ArtifactRow>(`${SELECT_ARTIFACT} WHERE a.task_id = $1 AND a.path = $2`, [taskId, path])
    ).rows[0]!;
    if (existing.sha256 !== file.sha256) {
      throw new BorgError('CONFLICT', `task ${taskId} already has a different artifact at ${path}`, {
        sha256: existing.sha256,
      });
    }
    return { artifact: toArtifact(existing), created: false };
  }

  async get(id: string): Promise<Artifact> {
    const { rows } = await this.db.query<ArtifactRow>(`${SELECT_ARTIFACT} WHERE a.id = $1`, [id]);
    if (!rows[0]) throw new BorgError('NOT_FOUND', `artifact ${id} does not exist`);
    return toArtifact(rows[0]);
  }

  async listOfTask(taskId: string): Promise<Artifact[]> {
    const exists = await this.db.query('SELECT 1 FROM tasks WHERE id = $1', [taskId]);
    if (exists.rows.length === 0) throw notFound('task', taskId);
    const { rows } = await this.db.query<ArtifactRow>(`${SELECT_ARTIFACT} WHERE a.task_id = $1 ORDER BY a.path`, [
      taskId,
    ]);
    return rows.map(toArtifact);
  }

  /** A runner may download a file only while it holds a task of a job that uses it as an input (A8). */
  async runnerMayRead(runnerId: string, fileId: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `SELECT 1 FROM job_files jf JOIN tasks t ON t.job_id = jf.job_id
        WHERE jf.file_id = $1 AND t.runner_id = $2 AND t.status IN ('assigned', 'running') LIMIT 1`,
      [fileId, runnerId],
    );
    return rows.length > 0;
  }
}
