import type { LogLine, LogStream } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

export interface NewLogLine {
  stream: LogStream;
  message: string;
  timestamp?: string | undefined;
}

interface LogRow {
  line_no: number;
  stream: LogStream;
  message: string;
  logged_at: Date;
}

const toLogLine = (row: LogRow): LogLine => ({
  index: row.line_no,
  stream: row.stream,
  message: row.message,
  timestamp: row.logged_at.toISOString(),
});

/**
 * PostgreSQL text cannot hold NUL. A NUL in a task's output becomes U+FFFD rather than failing
 * the batch (and losing the lines around it).
 */
export function storableMessage(message: string): string {
  return message.includes('\u0000') ? message.replaceAll('\u0000', '\uFFFD') : message;
}

/** SQL for task log lines. Batch order and idempotency are decided by the caller under the task's lock. */
export const logStore = {
  /** Stores lines as line numbers first..first+n-1 in one multi-row INSERT. */
  async insert(db: Queryable, taskId: string, firstLine: number, lines: readonly NewLogLine[]): Promise<LogLine[]> {
    if (lines.length === 0) return [];
    const { rows } = await db.query<LogRow>(
      `INSERT INTO task_logs (task_id, line_no, stream, message, logged_at)
       SELECT $1, $2::integer + u.ord::integer - 1, u.stream, u.message, coalesce(u.ts, now())
         FROM unnest($3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS u(stream, message, ts, ord)
       RETURNING line_no, stream, message, logged_at`,
      [
        taskId,
        firstLine,
        lines.map((l) => l.stream),
        lines.map((l) => storableMessage(l.message)),
        lines.map((l) => l.timestamp ?? null),
      ],
    );
    return rows.sort((a, b) => a.line_no - b.line_no).map(toLogLine);
  },

  async page(db: Queryable, taskId: string, after: number, limit: number): Promise<LogLine[]> {
    const { rows } = await db.query<LogRow>(
      `SELECT line_no, stream, message, logged_at FROM task_logs
        WHERE task_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3`,
      [taskId, after, limit],
    );
    return rows.map(toLogLine);
  },

  async range(db: Queryable, taskId: string, from: number, to: number): Promise<LogLine[]> {
    const { rows } = await db.query<LogRow>(
      `SELECT line_no, stream, message, logged_at FROM task_logs
        WHERE task_id = $1 AND line_no BETWEEN $2 AND $3 ORDER BY line_no`,
      [taskId, from, to],
    );
    return rows.map(toLogLine);
  },
};
