import type { FileInfo } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

export interface FileRow {
  id: string;
  filename: string;
  size: string | number;
  sha256: string;
  content_type: string;
  storage_key: string;
  created_at: Date;
}

export function toFileInfo(row: FileRow): FileInfo {
  return {
    id: row.id,
    filename: row.filename,
    size: Number(row.size), // bigint arrives as a string from pg
    sha256: row.sha256,
    content_type: row.content_type,
    created_at: row.created_at.toISOString(),
  };
}

/** SQL for file metadata; the bytes are in blob storage under storage_key. */
export const fileStore = {
  async insert(
    db: Queryable,
    file: { id: string; filename: string; size: number; sha256: string; contentType: string },
  ): Promise<FileRow> {
    const { rows } = await db.query<FileRow>(
      // The id goes in twice as two parameters: one parameter in a uuid column and a text column
      // fails with "inconsistent types deduced for parameter $1".
      `INSERT INTO files (id, filename, size, sha256, content_type, storage_key)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [file.id, file.filename, file.size, file.sha256, file.contentType, file.id],
    );
    return rows[0]!;
  },

  async get(db: Queryable, id: string): Promise<FileRow | null> {
    const { rows } = await db.query<FileRow>('SELECT * FROM files WHERE id = $1', [id]);
    return rows[0] ?? null;
  },

  async remove(db: Queryable, id: string): Promise<void> {
    await db.query('DELETE FROM files WHERE id = $1', [id]);
  },

  /** Files in storage-key order after `afterKey`, `limit` at a time (migrate-storage walks them all). */
  async pageByStorageKey(db: Queryable, afterKey: string, limit: number): Promise<FileRow[]> {
    const { rows } = await db.query<FileRow>(
      'SELECT * FROM files WHERE storage_key > $1 ORDER BY storage_key LIMIT $2',
      [afterKey, limit],
    );
    return rows;
  },

  /**
   * The ids among `fileIds` that name no uploaded file. The others are share-locked until the
   * caller's transaction ends, so retention cannot delete a file a submit is about to use.
   */
  async unknownIds(db: Queryable, fileIds: readonly string[]): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>('SELECT id FROM files WHERE id = ANY($1::uuid[]) FOR KEY SHARE', [
      fileIds,
    ]);
    const known = new Set(rows.map((r) => r.id));
    return fileIds.filter((id) => !known.has(id));
  },
};
