import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { borgPath } from '../borg-root.ts';
import { type Database, LOCK_KEYS } from './database.ts';

export const MIGRATIONS_DIR = borgPath('packages', 'mothership', 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Migrations are `NNNN_name.sql` files, applied in order, forward only. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: await readFile(join(dir, file), 'utf8'),
    })),
  );
}

export class SchemaTooNewError extends Error {
  constructor(databaseVersion: number, codeVersion: number) {
    super(
      `the database is at schema version ${databaseVersion} but this Borg only knows up to ${codeVersion}: ` +
        'run a newer Borg against it (downgrades are not supported)',
    );
    this.name = 'SchemaTooNewError';
  }
}

/**
 * Applies what is missing in one transaction under an advisory lock, so replicas starting
 * together migrate once and none of them sees a half-migrated schema. Returns the versions applied.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  const latest = all.at(-1)?.version ?? 0;
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEYS.migrations]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS borg_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM borg_migrations');
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > latest) throw new SchemaTooNewError(newest, latest);
    const done: number[] = [];
    for (const migration of all) {
      if (applied.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO borg_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      done.push(migration.version);
    }
    return done;
  });
}

/** True when every migration the code knows is applied (for /readyz). */
export async function isSchemaCurrent(db: Database, migrations: Migration[]): Promise<boolean> {
  const { rows } = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM borg_migrations');
  return (rows[0]?.version ?? 0) === (migrations.at(-1)?.version ?? 0);
}
