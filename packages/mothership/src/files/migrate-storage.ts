import { type MothershipConfig, storageDirOf } from '../config.ts';
import { startMothership } from '../mothership.ts';
import { DiskBlobStorage } from './blob-storage.ts';
import { type FileRow, fileStore } from './file-store.ts';
import { S3BlobStorage } from './s3-blob-storage.ts';
import { describeLocation, parseStorageUrl } from './storage-url.ts';

export interface MigrationReport {
  /** Files copied and checked now. */
  copied: number;
  /** Files the bucket already held at their size (an earlier run). */
  present: number;
  /** Files whose bytes could not be copied or did not hash to their recorded sha256, by id. */
  failed: Array<{ id: string; reason: string }>;
}

const PAGE = 500;

/**
 * `borg mothership migrate-storage --to s3://…`: copies every stored file of the database from
 * the storage directory into the bucket under the same key, and checks each copy's sha256 against
 * the one recorded at upload (a copy that differs is deleted again). Files already in the bucket
 * at their size are left alone, so the command can be run again after an interruption, and once
 * more with the replicas stopped before they restart with BORG_STORAGE_URL (docs/operations.md).
 */
export async function migrateStorage(
  config: MothershipConfig,
  to: string,
  progress: (line: string) => void,
): Promise<MigrationReport> {
  const bucket = new S3BlobStorage(parseStorageUrl(to));
  const report: MigrationReport = { copied: 0, present: 0, failed: [] };
  try {
    await bucket.init();
    // The database as the mothership opens it (migrated, embedded one locked), nothing served.
    const source = new DiskBlobStorage(storageDirOf(config));
    const mothership = await startMothership(
      // Its log (warnings and worse) goes to stdout as JSON lines; the command's own lines to `progress`.
      { ...config, storageUrl: undefined, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel },
      { maintenance: false, scheduler: false },
    );
    try {
      progress(`copying files from ${storageDirOf(config)} to ${describeLocation(bucket.location)}`);
      let after = '';
      for (;;) {
        const rows = await fileStore.pageByStorageKey(mothership.db, after, PAGE);
        for (const row of rows) await copyOne(row, source, bucket, report);
        if (rows.length < PAGE) break;
        after = rows.at(-1)!.storage_key;
        progress(`${report.copied} copied, ${report.present} already there, ${report.failed.length} failed`);
      }
    } finally {
      await mothership.close();
    }
  } finally {
    bucket.close();
  }
  return report;
}

async function copyOne(
  row: FileRow,
  source: DiskBlobStorage,
  bucket: S3BlobStorage,
  report: MigrationReport,
): Promise<void> {
  const size = Number(row.size);
  try {
    if ((await bucket.sizeOf(row.storage_key)) === size) {
      report.present++;
      return;
    }
    const { stream } = await source.read(row.storage_key);
    const stored = await bucket.write(row.storage_key, stream, size);
    if (stored.sha256 !== row.sha256 || stored.size !== size) {
      await bucket.remove(row.storage_key);
      report.failed.push({ id: row.id, reason: `its bytes hash to ${stored.sha256}, not the recorded ${row.sha256}` });
      return;
    }
    report.copied++;
  } catch (error) {
    report.failed.push({ id: row.id, reason: (error as Error).message });
  }
}
