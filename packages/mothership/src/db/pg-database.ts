import type Pg from 'pg';

import type { Database, Queryable, QueryResult, SessionLock } from './database.ts';
import { loadPg } from './load-pg.ts';
import { preparedName } from './prepared.ts';

const pg = loadPg();

export interface PgDatabaseOptions {
  connectionString: string;
  /** Pool size; PostgreSQL's own default max_connections is 100, shared by every replica. */
  maxConnections?: number;
  onError?: (error: Error) => void;
}

/** A real PostgreSQL server through a `pg` pool. */
export class PgDatabase implements Database {
  readonly engine = 'postgres';
  private readonly pool: Pg.Pool;

  constructor(private readonly options: PgDatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 20,
      connectionTimeoutMillis: 5_000,
      // A statement stuck behind a frozen server must fail (503) rather than hang the request.
      query_timeout: 30_000,
    });
    // An idle client losing its connection (server restart) must not crash the process.
    this.pool.on('error', (error) => options.onError?.(error));
    // Borg's statements are short lookups and small writes, which JIT compilation only slows:
    // the planner compiles any whose estimate is high (the retention sweep's pick among a million
    // ended jobs: 0.85 s of compiling for a 50 ms query). Queued first on each new connection.
    this.pool.on('connect', (client) => {
      client.query('SET jit = off').catch((error: Error) => options.onError?.(error));
    });
  }

  async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    const result = await this.pool.query(statementOf(sql, params));
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  waitingForConnection(): number {
    return this.pool.waitingCount;
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // While checked out, a client whose connection dies between two statements (a server
    // restart, pg_terminate_backend) emits 'error' with no query to fail; with no listener that
    // is an uncaught exception and the whole mothership died (found by the reliability suite).
    // The transaction's next statement fails instead, and the client is discarded on release.
    const onError = (error: Error) => {
      broken = error;
      this.options.onError?.(error);
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const tx: Queryable = {
        async query<R>(sql: string, params?: readonly unknown[]) {
          const result = await client.query(statementOf(sql, params));
          return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
        },
        async exec(sql: string) {
          await client.query(sql);
        },
      };
      const value = await fn(tx);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is gone: do not return it to the pool
      }
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: this.options.connectionString });
    client.on('error', (error) => this.options.onError?.(error));
    await client.connect();
    client.on('notification', (message) => {
      if (message.channel === channel) onMessage(message.payload ?? '');
    });
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return async () => {
      await client.end().catch(() => undefined);
    };
  }

  async tryAcquireSessionLock(key: number): Promise<SessionLock | null> {
    const client = new pg.Client({ connectionString: this.options.connectionString });
    let markLost: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => (markLost = resolve));
    client.on('error', () => markLost());
    client.on('end', () => markLost());
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
    if (!rows[0]?.locked) {
      await client.end();
      return null;
    }
    return {
      lost,
      release: async () => {
        await client.end().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A query for pg: by name when its text is marked prepared (prepared.ts). */
function statementOf(text: string, params?: readonly unknown[]): Pg.QueryConfig {
  return { text, values: params as unknown[] | undefined, name: preparedName(text) };
}
