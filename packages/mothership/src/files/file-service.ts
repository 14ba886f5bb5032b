import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { FileInfo } from '@borg/protocol';

import type { Database, Queryable } from '../db/database.ts';
import { notFound } from '../errors.ts';
import type { BlobStorage, ExpectedBytes } from './blob-storage.ts';
import { fileStore, toFileInfo } from './file-store.ts';

/**
 * File names are metadata only: shown to people, offered as the download name, never used
 * to build a path. Control and bidi characters are replaced so a name cannot disguise itself.
 */
export function displayName(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const cleaned = (name ?? '').replace(/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g, '_').trim();
  return cleaned.slice(0, 255) || 'file';
}

/** Stores uploads (streamed, hashed, size-limited) and hands them back out. */
export class FileService {
  constructor(
    private readonly db: Database,
    private readonly storage: BlobStorage,
    readonly maxUploadBytes: number,
  ) {}

  /**
   * Bytes first, then the row: a crash in between leaves an unreferenced blob, never a row
   * without bytes. Bytes over the limit or unlike what `expected` says leave nothing behind.
   */
  async upload(
    source: Readable,
    filename: string | undefined,
    expected: ExpectedBytes = {},
    db: Queryable = this.db,
  ): Promise<FileInfo> {
    const id = randomUUID();
    const blob = await this.storage.write(id, source, this.maxUploadBytes, expected);
    try {
      const row = await fileStore.insert(db, {
        id,
        filename: displayName(filename),
        size: blob.size,
        sha256: blob.sha256,
        // Whatever the client claimed, bytes are served as opaque octets (never rendered).
        contentType: 'application/octet-stream',
      });
      return toFileInfo(row);
    } catch (error) {
      await this.storage.remove(id);
      throw error;
    }
  }

  async discard(id: string): Promise<void> {
    await fileStore.remove(this.db, id);
    await this.storage.remove(id);
  }

  async get(id: string): Promise<FileInfo> {
    const row = await fileStore.get(this.db, id);
    if (!row) throw notFound('file', id);
    return toFileInfo(row);
  }

  async open(id: string): Promise<{ info: FileInfo; stream: Readable }> {
    const row = await fileStore.get(this.db, id);
    if (!row) throw notFound('file', id);
    const { stream } = await this.storage.read(row.storage_key);
    return { info: toFileInfo(row), stream };
  }
}
