import { setTimeout as sleep } from 'node:timers/promises';

import type { Job } from '@borg/protocol';
import type { Logger } from 'pino';

import type { Principal } from '../auth/principal.ts';
import type { Database, Queryable } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { BlobStorage } from '../files/blob-storage.ts';
import { assertMayChange } from '../jobs/job-actions.ts';
import { jobStore } from '../jobs/job-store.ts';
import { jobViews } from '../jobs/job-views.ts';
import { retentionStore } from './retention-store.ts';

/** Each setting in whole seconds; null keeps that kind of data for ever. */
export interface RetentionSettings {
  jobsSeconds: number | null;
  artifactsSeconds: number | null;
  filesSeconds: number | null;
  runnersSeconds: number | null;
}

/** What one sweep deleted, and whether it got through everything that had expired. */
export interface SweepResult {
  jobs: number;
  artifacts: number;
  files: number;
  runners: number;
  blobs: number;
}

/**
 * Jobs per deletion transaction, and elements: a batch is a short transaction (claims never
 * wait on it: it touches only ended rows).
 */
const JOBS_PER_BATCH = 500;
/** Jobs one jobs.deleted event names, so it fits in a NOTIFY payload. */
const IDS_PER_EVENT = 100;
const ELEMENTS_PER_BATCH = 5_000;
/** Artifacts, files or runners per transaction. */
const ROWS_PER_BATCH = 500;
/** PostgreSQL's foreign_key_violation: a submit took a file the sweep was deleting; it is kept, and tried next time. */
const FOREIGN_KEY_VIOLATION = '23503';

/**
 * Runs `batch` until it finds nothing to do or `keepGoing` says stop, resting after each batch
 * as long as it took: the sweep takes at most half of one connection's time, and claims and
 * reports keep the rest of the database to themselves.
 */
async function inBatches(keepGoing: () => boolean, batch: () => Promise<number>): Promise<void> {
  while (keepGoing()) {
    const started = performance.now();
    if ((await batch()) === 0) return;
    await sleep(performance.now() - started);
  }
}

/**
 * Deleting what Borg no longer needs: a job a person deletes, and on the maintenance leader a
 * sweep of ended jobs past their retention, old artifacts, uploads no job uses, and runners long
 * offline. Rows go first, in small transactions; the blobs they alone used are removed after
 * each commit (a crash in between leaves an unreferenced blob, never a row without its bytes).
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly storage: BlobStorage,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly settings: RetentionSettings,
    /** Told what each sweep and each deletion by a person removed (metrics). */
    private readonly observe: (deleted: SweepResult) => void = () => undefined,
  ) {}

  /**
   * Sweeps every `intervalMs` while this replica leads maintenance (`isLeader`), apart from the
   * maintenance round so a long sweep never delays the reaper or looks like a stalled database.
   */
  start(isLeader: () => boolean, intervalMs: number): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = (isLeader() ? this.sweep(() => !this.stopped && isLeader()) : Promise.resolve())
        .catch((error: unknown) => this.log.warn({ err: error }, 'retention sweep failed; trying again later'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, intervalMs);
        });
    };
    this.timer = setTimeout(loop, intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * Deletes an ended job with its attempts, logs and artifacts, by an operator or its submitter.
   * A job still running, pinned, or needed by an unfinished job downstream is refused (409).
   */
  async deleteJob(id: string, actor: Principal): Promise<Job> {
    const { job, keys } = await this.db.transaction(async (tx) => {
      const row = await jobStore.get(tx, id, { lock: true });
      if (!row) throw notFound('job', id);
      assertMayChange(actor, row);
      const block = await retentionStore.deletionBlock(tx, id);
      if (!block.ended) {
        throw new BorgError(
          'ILLEGAL_TRANSITION',
          `job ${id} is ${row.status}: cancel it, and delete it once it has ended`,
          {
            status: row.status,
          },
        );
      }
      if (block.pinned) {
        throw new BorgError('CONFLICT', `job ${id} is pinned: unpin it first (PATCH {"pinned": false})`);
      }
      if (block.downstream) {
        throw new BorgError(
          'CONFLICT',
          `job ${block.downstream.name} (${block.downstream.id}) depends on job ${id} and has not ended: delete it once that job has ended`,
          { downstream_id: block.downstream.id },
        );
      }
      const job = await jobViews.one(tx, row);
      return { job, keys: await this.deleteLockedJobs(tx, [id]) };
    });
    await this.removeBlobs(keys);
    this.bus.publish({ type: 'jobs.deleted', ids: [id] });
    this.observe({ jobs: 1, artifacts: 0, files: 0, runners: 0, blobs: keys.length });
    return job;
  }

  /**
   * Deletes everything that has expired, a batch at a time, until nothing is left or `keepGoing`
   * says stop (the replica lost the lead, or is shutting down).
   */
  async sweep(keepGoing: () => boolean = () => true): Promise<SweepResult> {
    const result: SweepResult = { jobs: 0, artifacts: 0, files: 0, runners: 0, blobs: 0 };
    const { jobsSeconds, artifactsSeconds, filesSeconds, runnersSeconds } = this.settings;
    // Jobs first: their artifacts and inputs then count as unused in the same sweep.
    await inBatches(keepGoing, () => this.sweepJobs(jobsSeconds, result));
    if (artifactsSeconds !== null) {
      await inBatches(keepGoing, () => this.sweepArtifacts(artifactsSeconds, result));
    }
    if (filesSeconds !== null) await inBatches(keepGoing, () => this.sweepUploads(filesSeconds, result));
    if (runnersSeconds !== null) {
      await inBatches(keepGoing, async () => {
        const retired = await retentionStore.retireOfflineRunners(this.db, runnersSeconds, ROWS_PER_BATCH);
        for (const id of retired.revokedTokenIds) this.bus.publish({ type: 'token.revoked', token_id: id });
        result.runners += retired.runnerIds.length;
        return retired.runnerIds.length;
      });
    }
    const total = result.jobs + result.artifacts + result.files + result.runners;
    if (total > 0) this.log.info(result, 'retention deleted expired data');
    this.observe(result);
    return result;
  }

  /** One batch of expired jobs (also those with a retention of their own while the default is off). */
  private async sweepJobs(defaultSeconds: number | null, result: SweepResult): Promise<number> {
    const { ids, keys } = await this.db.transaction(async (tx) => {
      const expired = await retentionStore.lockExpiredJobs(tx, defaultSeconds, JOBS_PER_BATCH);
      // The oldest first, as many as fit in the batch's elements (always at least one).
      let elements = 0;
      const batch = expired.filter((job, i) => {
        elements += job.array_size;
        return i === 0 || elements <= ELEMENTS_PER_BATCH;
      });
      const ids = batch.map((job) => job.id);
      return { ids, keys: ids.length > 0 ? await this.deleteLockedJobs(tx, ids) : [] };
    });
    if (ids.length === 0) return 0;
    await this.removeBlobs(keys);
    for (let i = 0; i < ids.length; i += IDS_PER_EVENT) {
      this.bus.publish({ type: 'jobs.deleted', ids: ids.slice(i, i + IDS_PER_EVENT) });
    }
    result.jobs += ids.length;
    result.blobs += keys.length;
    return ids.length;
  }

  private async sweepArtifacts(seconds: number, result: SweepResult): Promise<number> {
    const { count, keys } = await this.db.transaction(async (tx) => {
      const fileIds = await retentionStore.deleteExpiredArtifacts(tx, seconds, ROWS_PER_BATCH);
      return { count: fileIds.length, keys: await retentionStore.freeArtifactFiles(tx, fileIds) };
    });
    await this.removeBlobs(keys);
    result.artifacts += count;
    result.blobs += keys.length;
    return count;
  }

  private async sweepUploads(seconds: number, result: SweepResult): Promise<number> {
    let keys: string[];
    try {
      keys = await retentionStore.deleteUnusedUploads(this.db, seconds, ROWS_PER_BATCH);
    } catch (error) {
      if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION) return 0;
      throw error;
    }
    await this.removeBlobs(keys);
    result.files += keys.length;
    result.blobs += keys.length;
    return keys.length;
  }

  /** Deletes locked jobs and the artifact files only they used; the blob keys to remove after the commit. */
  private async deleteLockedJobs(tx: Queryable, ids: string[]): Promise<string[]> {
    const fileIds = await retentionStore.deleteJobs(tx, ids);
    return retentionStore.freeArtifactFiles(tx, fileIds);
  }

  private async removeBlobs(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      await this.storage.remove(key).catch((error: unknown) => {
        this.log.warn({ err: error, key }, 'a deleted file row left its blob behind');
      });
    }
  }
}
