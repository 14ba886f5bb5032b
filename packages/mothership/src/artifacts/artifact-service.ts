import type { Readable } from 'node:stream';

import type { Artifact } from '@borg/protocol';

import type { Database } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { ExpectedBytes } from '../files/blob-storage.ts';
import type { FileService } from '../files/file-service.ts';
import { dependencyStore } from '../jobs/dependency-store.ts';
import { HELD_TASK_STATUSES } from '../jobs/task-states.ts';
import { artifactStore, type TaskHolder } from './artifact-store.ts';

/** Files that tasks produce, and the rule for which files a runner may read. */
export class ArtifactService {
  constructor(
    private readonly db: Database,
    private readonly files: FileService,
  ) {}

  /** Throws unless runnerId holds taskId right now (the same fencing as status reports). */
  async assertHolds(runnerId: string, taskId: string): Promise<void> {
    const task = await artifactStore.holderOf(this.db, taskId);
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
    expected: ExpectedBytes = {},
  ): Promise<{ artifact: Artifact; created: boolean }> {
    await this.assertHolds(runnerId, taskId);
    const file = await this.files.upload(source, path.split('/').pop(), expected);
    // Checked again when the row goes in, under a share lock on the task: the upload may have
    // taken minutes, and the server may have taken the task back meanwhile (lost, timed out).
    // The lock waits for an ending in progress, so no artifact joins an attempt that has ended.
    const inserted = await this.db
      .transaction(async (tx) => {
        const task = await artifactStore.holderOf(tx, taskId, true);
        if (!isHeldBy(task, runnerId)) return null;
        return { id: await artifactStore.insert(tx, taskId, file.id, path) };
      })
      .catch(async (error: unknown) => {
        await this.files.discard(file.id).catch(() => undefined);
        throw error;
      });
    if (inserted === null) {
      await this.files.discard(file.id);
      await this.assertHolds(runnerId, taskId); // throws the 403 or 409 that fits
      throw new BorgError('STALE_TASK', `task ${taskId} ended while its artifact was uploading`);
    }
    if (inserted.id) return { artifact: await this.get(inserted.id), created: true };

    await this.files.discard(file.id);
    const existing = (await artifactStore.atPath(this.db, taskId, path))!;
    if (existing.sha256 !== file.sha256) {
      throw new BorgError('CONFLICT', `task ${taskId} already has a different artifact at ${path}`, {
        sha256: existing.sha256,
      });
    }
    return { artifact: existing, created: false };
  }

  async get(id: string): Promise<Artifact> {
    const artifact = await artifactStore.get(this.db, id);
    if (!artifact) throw new BorgError('NOT_FOUND', `artifact ${id} does not exist`);
    return artifact;
  }

  async listOfTask(taskId: string): Promise<Artifact[]> {
    if (!(await artifactStore.holderOf(this.db, taskId))) throw notFound('task', taskId);
    return artifactStore.listOfTask(this.db, taskId);
  }

  /**
   * A runner may download a file only while it holds a task of a job that uses it as an input
   * (A8): one of the job's files, or an artifact of an upstream job it takes inputs from.
   */
  async runnerMayRead(runnerId: string, fileId: string): Promise<boolean> {
    return (
      (await artifactStore.runnerHoldsInput(this.db, runnerId, fileId)) ||
      (await dependencyStore.runnerHoldsUpstreamArtifact(this.db, runnerId, fileId))
    );
  }
}

function isHeldBy(task: TaskHolder | null, runnerId: string): boolean {
  return task?.runner_id === runnerId && (HELD_TASK_STATUSES as readonly string[]).includes(task.status);
}
