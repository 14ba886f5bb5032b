import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { close, createReadStream, createWriteStream, fsync, open as openFile } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

import { BorgError } from '../errors.ts';
import { writeBackEarly } from './early-writeback.ts';
import { type ExpectedBytes, meterUpload, type StoredBlob, STREAM_BUFFER_BYTES } from './metered-stream.ts';
import { ensurePrivateDir, type PathWarnings, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-paths.ts';

export type { ExpectedBytes, StoredBlob } from './metered-stream.ts';

/**
 * Where file bytes live: a local directory that replicas share (DiskBlobStorage, the default) or
 * an S3-compatible bucket (S3BlobStorage, BORG_STORAGE_URL). Keys are opaque UUIDs chosen by the
 * server, a blob is written once and never changed, and bytes only ever stream.
 */
export interface BlobStorage {
  /**
   * Streams bytes in, hashing as they pass; the blob appears under `key` only when complete,
   * within maxBytes, and what `expected` says of it.
   */
  write(key: string, source: Readable, maxBytes: number, expected?: ExpectedBytes): Promise<StoredBlob>;
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

const openFd = promisify(openFile);
const fsyncFd = promisify(fsync);
const closeFd = promisify(close);

/** A download reads the file in pieces this large: few reads, and few writes to the socket. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * tmp/ files untouched for this long belong to no upload in progress: a request may last at most
 * 10 minutes (requestTimeout in build-app.ts), and a live upload writes to its file as bytes come.
 */
export const STALE_TMP_MS = 15 * 60_000;

/**
 * Blobs on local disk: written to tmp/ (synced as it grows, writeBackEarly), fsynced, then
 * renamed into blobs/ (rename is atomic on one file system), so a crash leaves at most a file in
 * tmp/, which a later start removes.
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

  async write(key: string, source: Readable, maxBytes: number, expected?: ExpectedBytes): Promise<StoredBlob> {
    const tmp = join(this.root, 'tmp', randomUUID());
    const { meter, result } = meterUpload(source, maxBytes, expected);
    try {
      // A plain descriptor that the stream leaves open when it ends, for the last sync here. A
      // failed stream is destroyed, and that closes the descriptor: wait for it, close nothing.
      const fd = await openFd(tmp, 'wx', PRIVATE_FILE_MODE);
      const file = createWriteStream('', { fd, autoClose: false, highWaterMark: STREAM_BUFFER_BYTES });
      const writeback = writeBackEarly(fd, () => file.bytesWritten);
      try {
        await pipeline(source, meter, file);
      } catch (error) {
        await writeback.stop();
        if (!file.closed) await once(file, 'close');
        throw error;
      }
      await writeback.stop();
      try {
        await fsyncFd(fd);
      } finally {
        await closeFd(fd);
      }
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
    return { stream: createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }), size };
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /** Files left in tmp/ (for tests and the reliability checks). */
  async tmpEntries(): Promise<string[]> {
    return readdir(join(this.root, 'tmp'));
  }
}
