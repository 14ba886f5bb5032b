import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { BorgError } from '../errors.ts';
import { meterUpload, type StoredBlob } from './metered-stream.ts';
import { ensurePrivateDir, type PathWarnings, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-paths.ts';

export type { StoredBlob } from './metered-stream.ts';

/**
 * Where file bytes live: a local directory that replicas share (DiskBlobStorage, the default) or
 * an S3-compatible bucket (S3BlobStorage, BORG_STORAGE_URL). Keys are opaque UUIDs chosen by the
 * server, a blob is written once and never changed, and bytes only ever stream.
 */
export interface BlobStorage {
  /** Streams bytes in, hashing as they pass; the blob appears under `key` only when complete. */
  write(key: string, source: Readable, maxBytes: number): Promise<StoredBlob>;
  read(key: string): Promise<{ stream: Readable; size: number }>;
  remove(key: string): Promise<void>;
  /** Whether the store answers right now (for /readyz); never throws. */
  ping?(): Promise<boolean>;
}

/** Blob keys are server-chosen UUIDs; anything else is refused before it reaches a path or an object key. */
export function checkBlobKey(key: string): string {
  if (!/^[A-Za-z0-9-]{8,64}$/.test(key)) throw new Error(`invalid blob key ${key}`);
  return key;
}

/** Where a blob lives under the store's root: `blobs/<first two characters>/<key>`, on disk and in a bucket alike. */
export function blobPathOf(key: string): string {
  return `blobs/${checkBlobKey(key).slice(0, 2)}/${key}`;
}

/**
 * tmp/ files untouched for this long belong to no upload in progress: a request may last at most
 * 10 minutes (requestTimeout in build-app.ts), and a live upload writes to its file as bytes come.
 */
export const STALE_TMP_MS = 15 * 60_000;

/**
 * Blobs on local disk: written to tmp/, fsynced, then renamed into blobs/ (rename is atomic on
 * one file system), so a crash leaves at most a file in tmp/, which a later start removes.
 * Replicas share the directory, so a starting replica removes only tmp/ files too old to be
 * another replica's upload in progress.
 */
export class DiskBlobStorage implements BlobStorage {
  constructor(private readonly root: string) {}

  /** Creates the directories (0700; existing ones opened to others are tightened) and sweeps tmp/. */
  async init(warnings?: PathWarnings): Promise<void> {
    const tmp = join(this.root, 'tmp');
    await ensurePrivateDir(this.root, warnings);
    await ensurePrivateDir(tmp, warnings);
    await ensurePrivateDir(join(this.root, 'blobs'), warnings);
    for (const name of await readdir(tmp)) {
      const path = join(tmp, name);
      const info = await stat(path).catch(() => null); // another replica may have just renamed it
      if (info && Date.now() - info.mtimeMs > STALE_TMP_MS) await rm(path, { recursive: true, force: true });
    }
  }

  private pathOf(key: string): string {
    return join(this.root, blobPathOf(key));
  }

  async ping(): Promise<boolean> {
    return stat(join(this.root, 'blobs')).then(
      (info) => info.isDirectory(),
      () => false,
    );
  }

  async write(key: string, source: Readable, maxBytes: number): Promise<StoredBlob> {
    const tmp = join(this.root, 'tmp', randomUUID());
    const { meter, result } = meterUpload(source, maxBytes);
    try {
      await pipeline(source, meter, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE }));
      const handle = await open(tmp, 'r');
      await handle.sync().finally(() => handle.close());
      const target = this.pathOf(key);
      await mkdir(dirname(target), { recursive: true, mode: PRIVATE_DIR_MODE });
      await rename(tmp, target);
      return result();
    } catch (error) {
      await rm(tmp, { force: true });
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new BorgError('INSUFFICIENT_STORAGE', 'the mothership has no space left to store this file');
      }
      throw error;
    }
  }

  async read(key: string): Promise<{ stream: Readable; size: number }> {
    const path = this.pathOf(key);
    const { size } = await stat(path);
    return { stream: createReadStream(path), size };
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /** Files left in tmp/ (for tests and the reliability checks). */
  async tmpEntries(): Promise<string[]> {
    return readdir(join(this.root, 'tmp'));
  }
}
