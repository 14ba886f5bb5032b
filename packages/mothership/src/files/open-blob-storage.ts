import { type MothershipConfig, storageDirOf } from '../config.ts';
import { type BlobStorage, DiskBlobStorage } from './blob-storage.ts';
import type { PathWarnings } from './private-paths.ts';
import { describeLocation, parseStorageUrl } from './storage-url.ts';

export interface OpenedStorage {
  storage: BlobStorage;
  /** For the startup log: where blobs go, without credentials. */
  where: string;
  close(): Promise<void>;
}

/**
 * The store BORG_STORAGE_URL names (an S3-compatible bucket), else the local directory. Either
 * way it is checked before the mothership serves: an unusable bucket stops the start with a
 * message that says why, rather than failing the first upload.
 */
export async function openBlobStorage(config: MothershipConfig, warnings?: PathWarnings): Promise<OpenedStorage> {
  if (config.storageUrl) {
    // Loaded only here: the AWS SDK is large, and a mothership on a local directory never needs it.
    const { S3BlobStorage } = await import('./s3-blob-storage.ts');
    const s3 = new S3BlobStorage(parseStorageUrl(config.storageUrl));
    try {
      await s3.init();
    } catch (error) {
      s3.close();
      throw error;
    }
    return { storage: s3, where: describeLocation(s3.location), close: async () => s3.close() };
  }
  const disk = new DiskBlobStorage(storageDirOf(config));
  await disk.init(warnings);
  return { storage: disk, where: storageDirOf(config), close: async () => undefined };
}
