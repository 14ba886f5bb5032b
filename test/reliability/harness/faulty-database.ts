import type { Database, Queryable, QueryResult, SessionLock } from '../../../packages/mothership/src/db/database.ts';

/** An error shaped like the ones `pg` raises, so the mothership classifies it as it would a real one. */
export function databaseError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export const FAULTS = {
  /** The server went away under the connection (pg_ctl restart, a network cut). */
  connectionReset: () => databaseError('ECONNRESET', 'read ECONNRESET'),
  /** The server is shutting down (pg_ctl stop -m fast). */
  adminShutdown: () => databaseError('57P01', 'terminating connection due to administrator command'),
  /** Two transactions collided under SERIALIZABLE or REPEATABLE READ. */
  serializationFailure: () => databaseError('40001', 'could not serialize access due to concurrent update'),
  deadlock: () => databaseError('40P01', 'deadlock detected'),
} as const;

/**
 * Decides, per statement, whether it fails. `sql` is the statement's text; `inTransaction`
 * says whether it runs inside `transaction()` (a fault there rolls the whole transaction back,
 * as a dropped connection would). Returning an Error throws it instead of running the statement.
 */
export type FaultRule = (sql: string, context: { inTransaction: boolean; count: number }) => Error | undefined;

/**
 * A Database that passes everything to the real one except where a rule injects a fault, in
 * the style of Temporal's FaultInjectionDataStore. Faults are raised before the statement
 * reaches the database, or (with `afterStatement`) after it ran inside a transaction that is
 * then rolled back, which is what a connection lost between a statement and COMMIT does.
 */
export class FaultyDatabase implements Database {
  private rules: Array<{ rule: FaultRule; afterStatement: boolean }> = [];
  private hooks: Array<(sql: string, tx: Queryable) => Promise<void>> = [];
  private stalls: Array<{ pattern: RegExp; ms: number; times: number }> = [];
  /** Statements seen (in and out of transactions). */
  count = 0;
  /** Faults raised so far. */
  injected = 0;
  /** The text of each statement sent and not answered yet. */
  private readonly unanswered: string[] = [];

  constructor(private readonly inner: Database) {}

  get engine() {
    return this.inner.engine;
  }

  /** Adds a rule; returns a function that removes it. */
  inject(rule: FaultRule, options: { afterStatement?: boolean } = {}): () => void {
    const entry = { rule, afterStatement: options.afterStatement ?? false };
    this.rules.push(entry);
    return () => {
      this.rules = this.rules.filter((r) => r !== entry);
    };
  }

  /** Every statement fails with the error until the returned function is called (an outage). */
  outage(error: () => Error = FAULTS.connectionReset): () => void {
    return this.inject(() => error());
  }

  /** After `n` more statements, every one matching `pattern` fails once, `times` times in all. */
  failAfter(n: number, error: () => Error, options: { pattern?: RegExp; times?: number } = {}): () => void {
    const start = this.count;
    let left = options.times ?? 1;
    return this.inject((sql, { count }) => {
      if (left <= 0 || count - start < n || (options.pattern && !options.pattern.test(sql))) return undefined;
      left--;
      return error();
    });
  }

  /**
   * Runs `hook` on the same transaction right after each statement inside a transaction (for
   * faults that must happen on the real connection: a backend terminating itself mid-claim).
   */
  afterEachTransactionStatement(hook: (sql: string, tx: Queryable) => Promise<void>): () => void {
    this.hooks.push(hook);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== hook);
    };
  }

  /** The next `times` statements matching `pattern` wait `ms` first (a stalled server). */
  stall(pattern: RegExp, ms: number, times = 1): void {
    this.stalls.push({ pattern, ms, times });
  }

  private async waitIfStalled(sql: string): Promise<void> {
    const stall = this.stalls.find((s) => s.times > 0 && s.pattern.test(sql));
    if (!stall) return;
    stall.times--;
    await new Promise((resolve) => setTimeout(resolve, stall.ms));
  }

  /** Statements sent and not answered yet that match `pattern` (one waiting on a lock, say). */
  inFlight(pattern: RegExp): number {
    return this.unanswered.filter((sql) => pattern.test(sql)).length;
  }

  private async answer<T>(sql: string, run: () => Promise<T>): Promise<T> {
    this.unanswered.push(sql);
    try {
      return await run();
    } finally {
      this.unanswered.splice(this.unanswered.indexOf(sql), 1);
    }
  }

  clear(): void {
    this.rules = [];
    this.hooks = [];
    this.stalls = [];
  }

  private check(sql: string, inTransaction: boolean, afterStatement: boolean): void {
    const context = { inTransaction, count: this.count };
    for (const { rule, afterStatement: after } of this.rules) {
      if (after !== afterStatement) continue;
      const error = rule(sql, context);
      if (error) {
        this.injected++;
        throw error;
      }
    }
  }

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    this.count++;
    this.check(sql, false, false);
    await this.waitIfStalled(sql);
    return this.answer(sql, () => this.inner.query<R>(sql, params));
  }

  async exec(sql: string): Promise<void> {
    this.count++;
    this.check(sql, false, false);
    return this.answer(sql, () => this.inner.exec(sql));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) =>
      fn({
        query: async <R>(sql: string, params?: readonly unknown[]) => {
          this.count++;
          this.check(sql, true, false);
          const result = await this.answer(sql, () => tx.query<R>(sql, params));
          this.check(sql, true, true);
          for (const hook of this.hooks) await hook(sql, tx);
          return result;
        },
        exec: async (sql: string) => {
          this.count++;
          this.check(sql, true, false);
          await this.answer(sql, () => tx.exec(sql));
          this.check(sql, true, true);
        },
      }),
    );
  }

  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>> {
    return this.inner.listen(channel, onMessage);
  }

  tryAcquireSessionLock(key: number): Promise<SessionLock | null> {
    return this.inner.tryAcquireSessionLock(key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
