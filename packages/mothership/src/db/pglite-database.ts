import { PGlite, type Transaction } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';

import type { Database, Queryable, QueryResult, SessionLock } from './database.ts';

/**
 * Embedded PostgreSQL (PGlite, WASM) in a data directory. It is a single connection, so
 * statements and transactions run one at a time; that is what makes it safe, and also why
 * the PostgreSQL server is the production path.
 */
export class PgliteDatabase implements Database {
  readonly engine = 'pglite';

  private constructor(private readonly db: PGlite) {}

  static async open(dataDir: string): Promise<PgliteDatabase> {
    // pg_trgm backs the job list's name search (migration 0004).
    const db = await PGlite.create(dataDir, { extensions: { pg_trgm } });
    return new PgliteDatabase(db);
  }

  async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    const result = await this.db.query<R>(sql, params as unknown[]);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction((tx: Transaction) =>
      fn({
        async query<R>(sql: string, params?: readonly unknown[]) {
          const result = await tx.query<R>(sql, params as unknown[]);
          return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
        },
        async exec(sql: string) {
          await tx.exec(sql);
        },
      }),
    );
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>> {
    const unlisten = await this.db.listen(channel, onMessage);
    return () => unlisten();
  }

  /** One process owns the directory (see data-dir-lock.ts), so it always holds every lock. */
  async tryAcquireSessionLock(): Promise<SessionLock> {
    return { lost: new Promise<void>(() => undefined), release: async () => undefined };
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
