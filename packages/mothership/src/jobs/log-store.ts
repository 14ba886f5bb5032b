import {
  type LogLine,
  logOffsetMs,
  type LogStream,
  type PackedLogLines,
  STREAM_LETTERS,
  STREAM_OF_LETTER,
  type TaskStatus,
} from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';

export interface NewLogLine {
  stream: LogStream;
  message: string;
  timestamp?: string | undefined;
}

/** One batch of lines as one chunk row stores them (migration 0020). */
export interface PackedLines {
  /** One letter a line: o stdout, e stderr, s system. */
  streams: string;
  /** The first line's time, ms since the epoch. */
  loggedAt: number;
  /** Each line's time in ms after the first's; null when they are all the same. */
  offsets: number[] | null;
  messages: string[];
  /** UTF-8 bytes of the messages (what the log limit counts). */
  bytes: number;
}

/** What appending a batch needs to know of its task (and tells the caller when it is refused). */
export interface LogTaskState {
  id: string;
  job_id: string;
  runner_id: string | null;
  status: TaskStatus;
  reason: string | null;
  log_batches: number;
  log_lines: number;
}

export interface AppendBatch {
  taskId: string;
  runnerId: string;
  seq: number;
  packed: PackedLines;
  /** Statuses a task ends in: a batch for a task in one of these, ended for a reason of the server's, is refused. */
  terminalStatuses: readonly string[];
  serverReasons: readonly string[];
  /** The log limit of a task whose job gives none (BORG_TASK_LOG_LIMIT). */
  defaultLimitBytes: number;
}

export interface AppendOutcome {
  /** The task before the batch. */
  task: LogTaskState;
  stored: boolean;
  /** The lines the batch added to the log (none past the limit but the one marker), for the live view. */
  lines: LogLine[];
}

/**
 * The backstop behind the solder's own cap (log-cap.ts): a batch that would take a task's log
 * past its limit is acknowledged but not kept; the first such batch leaves this line instead.
 */
export const OVERFLOW_MARKER = '… the log passed its limit: the mothership dropped the lines that followed …';

interface ChunkRow {
  first_line: number;
  streams: string;
  logged_at: Date;
  offsets_ms: number[] | null;
  messages: string[];
}

/**
 * PostgreSQL text cannot hold NUL. A NUL in a task's output becomes U+FFFD rather than failing
 * the batch (and losing the lines around it).
 */
export function storableMessage(message: string): string {
  return message.includes('\u0000') ? message.replaceAll('\u0000', '\uFFFD') : message;
}

/** Packs a batch into columns in one pass; a line without a time gets `now`. */
export function packLines(lines: readonly NewLogLine[], now = Date.now()): PackedLines {
  let streams = '';
  const messages = new Array<string>(lines.length);
  const times = new Array<number>(lines.length);
  let bytes = 0;
  let varied = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    streams += STREAM_LETTERS[line.stream];
    const message = storableMessage(line.message);
    messages[i] = message;
    bytes += Buffer.byteLength(message);
    const time = line.timestamp === undefined ? now : Date.parse(line.timestamp);
    times[i] = Number.isNaN(time) ? now : time;
    if (times[i] !== times[0]) varied = true;
  }
  const loggedAt = times[0] ?? now;
  const offsets = varied ? times.map((t) => logOffsetMs(t - loggedAt)) : null;
  return { streams, loggedAt, offsets, messages, bytes };
}

/**
 * A batch that came packed (checked against `PackedLogLines`: one stream letter and one offset a
 * message), with each message made storable and `mask` applied; no time: `now`.
 */
export function packWireLines(
  wire: PackedLogLines,
  mask: (message: string) => string = (message) => message,
  now = Date.now(),
): PackedLines {
  const messages = new Array<string>(wire.messages.length);
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const message = storableMessage(mask(wire.messages[i]!));
    messages[i] = message;
    bytes += Buffer.byteLength(message);
  }
  const loggedAt = wire.logged_at === undefined ? now : Date.parse(wire.logged_at);
  const offsets = wire.offsets_ms?.some((offset) => offset !== 0) ? wire.offsets_ms : null;
  return { streams: wire.streams, loggedAt: Number.isNaN(loggedAt) ? now : loggedAt, offsets, messages, bytes };
}

/** The lines of a packed batch as the API shows them, numbered from `firstLine`. */
export function unpackLines(firstLine: number, packed: Omit<PackedLines, 'bytes'>): LogLine[] {
  const { streams, loggedAt, offsets, messages } = packed;
  const lines = new Array<LogLine>(messages.length);
  // Lines of one burst share their millisecond: each distinct time is formatted once.
  let offset = 0;
  let timestamp = new Date(loggedAt).toISOString();
  for (let i = 0; i < messages.length; i++) {
    const lineOffset = offsets?.[i] ?? 0;
    if (lineOffset !== offset) {
      offset = lineOffset;
      timestamp = new Date(loggedAt + offset).toISOString();
    }
    lines[i] = {
      index: firstLine + i,
      stream: STREAM_OF_LETTER[streams[i]!] ?? 'system',
      message: messages[i]!,
      timestamp,
    };
  }
  return lines;
}

/**
 * SQL for task logs, stored as chunks: each accepted batch is one row holding its lines
 * (first_line .. first_line + line_count - 1). Batch order and idempotency are decided by the
 * caller under the task's lock, so a task's chunks tile its log without gap or overlap.
 */
export const logStore = {
  /**
   * Stores batch `seq` of a task as its next chunk, in one statement (one round trip, no
   * transaction around it): the task's row is locked, and only if the batch is the next one, the
   * runner still holds the task and the server has not ended it, the chunk is written and the
   * task's counts move on. Returns the task's state before the batch (null: no such task) and
   * whether it was stored; the caller tells the runner why when it was not.
   */
  async append(db: Queryable, batch: AppendBatch): Promise<AppendOutcome | null> {
    const { rows } = await db.query<LogTaskState & { stored: boolean; over: boolean; marked: boolean }>(
      prepared(`WITH task AS (
         SELECT t.id, t.job_id, t.runner_id, t.status, t.reason, t.log_batches, t.log_lines, t.log_dropped_lines,
                t.log_bytes + $9 > coalesce(j.log_limit, $12) AS over
           FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.id = $1 FOR UPDATE OF t
       ), next AS (
         SELECT id, log_lines, over, over AND log_dropped_lines = 0 AND $4::integer > 0 AS marked FROM task
          WHERE runner_id = $2 AND log_batches = $3 AND status <> 'lost'
            AND NOT (status = ANY ($10::text[]) AND coalesce(reason = ANY ($11::text[]), false))
       ), chunk AS (
         INSERT INTO task_log_chunks (task_id, first_line, line_count, streams, logged_at, offsets_ms, messages)
         SELECT id, log_lines, $4::integer, $5::text, $6::timestamptz, $7::integer[], $8::text[] FROM next WHERE $4::integer > 0 AND NOT over
         UNION ALL
         SELECT id, log_lines, 1, 's', $6::timestamptz, NULL::integer[], ARRAY[$13::text] FROM next WHERE marked
       ), counted AS (
         UPDATE tasks t SET log_batches = t.log_batches + 1,
                log_lines = t.log_lines + CASE WHEN next.marked THEN 1 WHEN next.over THEN 0 ELSE $4 END,
                log_bytes = t.log_bytes + CASE WHEN next.over THEN 0 ELSE $9 END,
                log_dropped_lines = t.log_dropped_lines + CASE WHEN next.over THEN $4 ELSE 0 END,
                log_dropped_bytes = t.log_dropped_bytes + CASE WHEN next.over THEN $9 ELSE 0 END
           FROM next WHERE t.id = next.id RETURNING t.id
       )
       SELECT task.id, task.job_id, task.runner_id, task.status, task.reason, task.log_batches, task.log_lines,
              EXISTS (SELECT 1 FROM counted) AS stored, task.over, coalesce((SELECT marked FROM next), false) AS marked
         FROM task`),
      [
        batch.taskId,
        batch.runnerId,
        batch.seq,
        batch.packed.messages.length,
        batch.packed.streams,
        new Date(batch.packed.loggedAt),
        batch.packed.offsets,
        batch.packed.messages,
        batch.packed.bytes,
        batch.terminalStatuses,
        batch.serverReasons,
        batch.defaultLimitBytes,
        OVERFLOW_MARKER,
      ],
    );
    const row = rows[0];
    if (!row) return null;
    const { stored, over, marked, ...task } = row;
    const lines = !stored
      ? []
      : marked
        ? unpackLines(task.log_lines, {
            streams: 's',
            loggedAt: batch.packed.loggedAt,
            offsets: null,
            messages: [OVERFLOW_MARKER],
          })
        : over
          ? []
          : unpackLines(task.log_lines, batch.packed);
    return { task, stored, lines };
  },

  /**
   * A page of the chunks of every task of a job, in (element, task, first line) order after
   * `after`, with each task's element; a search reads a job's logs page by page this way.
   */
  async chunksOfJob(
    db: Queryable,
    jobId: string,
    after: { index: number; taskId: string; firstLine: number } | null,
    limit: number,
  ): Promise<Array<{ task_id: string; index: number; first_line: number; lines: LogLine[] }>> {
    const { rows } = await db.query<ChunkRow & { task_id: string; index: number }>(
      `SELECT c.task_id, t.index, c.first_line, c.streams, c.logged_at, c.offsets_ms, c.messages
         FROM task_log_chunks c JOIN tasks t ON t.id = c.task_id
        WHERE t.job_id = $1 AND (t.index, c.task_id, c.first_line) > ($2::integer, $3::uuid, $4::integer)
        ORDER BY t.index, c.task_id, c.first_line LIMIT $5`,
      [
        jobId,
        after?.index ?? -1,
        after?.taskId ?? '00000000-0000-0000-0000-000000000000',
        after?.firstLine ?? -1,
        limit,
      ],
    );
    return rows.map((row) => ({
      task_id: row.task_id,
      index: row.index,
      first_line: row.first_line,
      lines: unpackLines(row.first_line, {
        streams: row.streams,
        loggedAt: row.logged_at.getTime(),
        offsets: row.offsets_ms,
        messages: row.messages,
      }),
    }));
  },

  /** Stores a packed batch as lines first..first+n-1: one row, one statement. */
  async insert(db: Queryable, taskId: string, firstLine: number, packed: PackedLines): Promise<void> {
    if (packed.messages.length === 0) return;
    await db.query(
      `INSERT INTO task_log_chunks (task_id, first_line, line_count, streams, logged_at, offsets_ms, messages)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        taskId,
        firstLine,
        packed.messages.length,
        packed.streams,
        new Date(packed.loggedAt),
        packed.offsets,
        packed.messages,
      ],
    );
  },

  /** Lines after `after` (-1: from the start), at most `limit`, in order. */
  async page(db: Queryable, taskId: string, after: number, limit: number): Promise<LogLine[]> {
    const lines = await this.range(db, taskId, after + 1, after + limit);
    // Short of the limit: the end of the log, or a hole (lines a restored database lost), in
    // which case the page goes on with the lines after it, as a page of stored lines always has.
    while (lines.length < limit) {
      const last = lines.at(-1)?.index ?? after;
      const { rows } = await db.query<{ next: number | null }>(
        'SELECT min(first_line) AS next FROM task_log_chunks WHERE task_id = $1 AND first_line > $2',
        [taskId, last],
      );
      const next = rows[0]?.next ?? null;
      if (next === null) break;
      lines.push(...(await this.range(db, taskId, next, next + limit - lines.length - 1)));
    }
    return lines;
  },

  /** Lines from..to (both included) that are stored, in order. */
  async range(db: Queryable, taskId: string, from: number, to: number): Promise<LogLine[]> {
    if (to < from) return [];
    // The chunk holding `from` is the last one starting at or before it (an index probe), so
    // a page deep in a long log reads only the chunks it returns; each is cut to the range.
    const { rows } = await db.query<ChunkRow>(
      `SELECT c.first_line + s.lo - 1 AS first_line, substr(c.streams, s.lo, s.hi - s.lo + 1) AS streams,
              c.logged_at, c.offsets_ms[s.lo:s.hi] AS offsets_ms, c.messages[s.lo:s.hi] AS messages
         FROM task_log_chunks c
        CROSS JOIN LATERAL (SELECT greatest($2::integer - c.first_line, 0) + 1 AS lo,
                                   least($3::integer - c.first_line, c.line_count - 1) + 1 AS hi) s
        WHERE c.task_id = $1 AND c.first_line <= $3
          AND c.first_line >= coalesce((SELECT max(first_line) FROM task_log_chunks
                                         WHERE task_id = $1 AND first_line <= $2), 0)
          AND c.first_line + c.line_count > $2
        ORDER BY c.first_line`,
      [taskId, from, to],
    );
    return rows.flatMap((row) =>
      unpackLines(row.first_line, {
        streams: row.streams,
        loggedAt: row.logged_at.getTime(),
        // The offsets are of the whole chunk's first line: sliced, they still count from it.
        offsets: row.offsets_ms,
        messages: row.messages,
      }),
    );
  },
};
