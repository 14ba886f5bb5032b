/**
 * The one door to PostgreSQL. Both engines (a real server through `pg`, embedded PGlite) speak
 * the same SQL through this interface, so every store is written once.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** A PostgreSQL session lock (advisory lock) held until released or the session ends. */
export interface SessionLock {
  /** Resolves when the lock is lost (the session died), so the holder can step down. */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

export interface Database extends Queryable {
  readonly engine: 'postgres' | 'pglite';
  /** Runs fn in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Calls onMessage for every NOTIFY on channel until the returned function is called. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  /** Takes an advisory lock on its own session without waiting; null if another session holds it. */
  tryAcquireSessionLock(key: number): Promise<SessionLock | null>;
  /** Queries waiting for a pooled connection right now (absent: the engine has no pool to wait for). */
  waitingForConnection?(): number;
  close(): Promise<void>;
}

/** Advisory lock keys, one place so two features never share one by accident. */
export const LOCK_KEYS = {
  migrations: 0x626f7201,
  maintenance: 0x626f7202,
  /**
   * Not taken from here: borg_claim (migration 0017) takes (this, hashtext(job id)) in the
   * two-key form, per job with max_parallel, so it can never meet the one-key locks above.
   */
  maxParallelClaim: 0x626f7203,
} as const;
