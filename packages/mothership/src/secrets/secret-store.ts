import type { SecretInfo } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import type { SealedValue } from './secret-cipher.ts';

interface SecretRow {
  name: string;
  key_id: string;
  nonce: Buffer;
  ciphertext: Buffer;
  auth_tag: Buffer;
  created_at: Date;
  updated_at: Date;
}

export interface StoredSecret {
  name: string;
  sealed: SealedValue;
}

const toInfo = (row: Pick<SecretRow, 'name' | 'created_at' | 'updated_at'>): SecretInfo => ({
  name: row.name,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

const toStored = (row: SecretRow): StoredSecret => ({
  name: row.name,
  // PGlite hands bytea back as a Uint8Array, pg as a Buffer.
  sealed: {
    keyId: row.key_id,
    nonce: Buffer.from(row.nonce),
    ciphertext: Buffer.from(row.ciphertext),
    authTag: Buffer.from(row.auth_tag),
  },
});

/** Every statement about secrets. Values go in and out sealed; this file never sees one in clear. */
export const secretStore = {
  /** Creates or replaces a secret; `created` tells which. */
  async put(
    db: Queryable,
    name: string,
    sealed: SealedValue,
    updatedBy: string | null,
  ): Promise<{ info: SecretInfo; created: boolean }> {
    const { rows } = await db.query<SecretRow & { created: boolean }>(
      `INSERT INTO secrets AS s (name, key_id, nonce, ciphertext, auth_tag, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE
         SET key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             auth_tag = excluded.auth_tag, updated_by = excluded.updated_by, updated_at = now()
       RETURNING s.name, s.created_at, s.updated_at, (xmax = 0) AS created`,
      [name, sealed.keyId, sealed.nonce, sealed.ciphertext, sealed.authTag, updatedBy],
    );
    return { info: toInfo(rows[0]!), created: rows[0]!.created };
  },

  async list(db: Queryable): Promise<SecretInfo[]> {
    const { rows } = await db.query<SecretRow>('SELECT name, created_at, updated_at FROM secrets ORDER BY name');
    return rows.map(toInfo);
  },

  async remove(db: Queryable, name: string): Promise<SecretInfo | null> {
    const { rows } = await db.query<SecretRow>(
      'DELETE FROM secrets WHERE name = $1 RETURNING name, created_at, updated_at',
      [name],
    );
    return rows[0] ? toInfo(rows[0]) : null;
  },

  /** The sealed values of these secrets; names that do not exist are simply absent. */
  async sealed(db: Queryable, names: readonly string[]): Promise<StoredSecret[]> {
    if (names.length === 0) return [];
    const { rows } = await db.query<SecretRow>(
      'SELECT name, key_id, nonce, ciphertext, auth_tag FROM secrets WHERE name = ANY($1::text[])',
      [names],
    );
    return rows.map(toStored);
  },

  async unknownNames(db: Queryable, names: readonly string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const { rows } = await db.query<{ name: string }>('SELECT name FROM secrets WHERE name = ANY($1::text[])', [names]);
    const known = new Set(rows.map((r) => r.name));
    return names.filter((name) => !known.has(name));
  },

  /** Secrets sealed under another key than this one (to re-encrypt after a rotation). */
  async sealedUnderOtherKeys(db: Queryable, keyId: string): Promise<StoredSecret[]> {
    const { rows } = await db.query<SecretRow>(
      'SELECT name, key_id, nonce, ciphertext, auth_tag FROM secrets WHERE key_id <> $1 FOR UPDATE',
      [keyId],
    );
    return rows.map(toStored);
  },

  /** Replaces a value's sealing without touching its dates (a re-encryption, not an update). */
  async reseal(db: Queryable, name: string, sealed: SealedValue): Promise<void> {
    await db.query('UPDATE secrets SET key_id = $2, nonce = $3, ciphertext = $4, auth_tag = $5 WHERE name = $1', [
      name,
      sealed.keyId,
      sealed.nonce,
      sealed.ciphertext,
      sealed.authTag,
    ]);
  },
};
