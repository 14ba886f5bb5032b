import { z } from 'zod';

import { Timestamp } from './common.ts';

export const LOG_STREAMS = ['stdout', 'stderr', 'system'] as const;
export const LogStream = z.enum(LOG_STREAMS);
export type LogStream = z.infer<typeof LogStream>;

/** Caps per batch: a solder ships a batch every ~250 ms or 64 KiB, far below these. */
export const MAX_LINES_PER_BATCH = 10_000;
export const MAX_LINE_LENGTH = 1_048_576;

export const LogLineInput = z.strictObject({
  stream: LogStream,
  message: z.string().max(MAX_LINE_LENGTH),
  /** When the solder read the line; the server's time is used when absent. */
  timestamp: z.iso.datetime({ offset: true }).optional(),
});

/** The letter of each stream in a packed batch: o stdout, e stderr, s system. */
export const STREAM_LETTERS: Readonly<Record<LogStream, string>> = { stdout: 'o', stderr: 'e', system: 's' };
/** The stream of each letter of a packed batch. */
export const STREAM_OF_LETTER: Readonly<Record<string, LogStream>> = { o: 'stdout', e: 'stderr', s: 'system' };
/** A line's time offset must fit PostgreSQL's integer. */
export const MAX_LOG_OFFSET_MS = 2_147_483_647;

/** A line's time after its batch's first, clamped to what an offset can hold (a line read weeks later). */
export function logOffsetMs(ms: number): number {
  return Math.max(-MAX_LOG_OFFSET_MS, Math.min(MAX_LOG_OFFSET_MS, ms));
}

/**
 * A batch's lines in columns, as the mothership stores them: one string a line instead of an
 * object of three, so a busy task's log costs the server a fraction of the parsing and checking.
 */
export const PackedLogLines = z
  .strictObject({
    /** One letter a line: o stdout, e stderr, s system. */
    streams: z
      .string()
      .max(MAX_LINES_PER_BATCH)
      .regex(/^[oes]*$/, 'one letter a line: o (stdout), e (stderr) or s (system)'),
    messages: z.array(z.string().max(MAX_LINE_LENGTH)).max(MAX_LINES_PER_BATCH),
    /** When the solder read the first line; the server's time is used when absent. */
    logged_at: z.iso.datetime({ offset: true }).optional(),
    /** Each line's time in ms after the first's; absent or null when they all share it. */
    offsets_ms: z
      .array(z.number().int().min(-MAX_LOG_OFFSET_MS).max(MAX_LOG_OFFSET_MS))
      .max(MAX_LINES_PER_BATCH)
      .nullable()
      .optional(),
  })
  .refine(
    (packed) =>
      packed.streams.length === packed.messages.length &&
      (packed.offsets_ms == null || packed.offsets_ms.length === packed.messages.length),
    'streams, messages and offsets_ms must have one entry a line',
  );
export type PackedLogLines = z.input<typeof PackedLogLines>;

export const AppendLogsRequest = z
  .strictObject({
    /** Batch number, from 0, contiguous per task: the server stores batch n only after n - 1. */
    seq: z.number().int().min(0).max(100_000_000),
    /** The lines, one object each; or `packed`, the same in columns (what the solder sends). */
    lines: z.array(LogLineInput).max(MAX_LINES_PER_BATCH).optional(),
    packed: PackedLogLines.optional(),
  })
  .refine((batch) => (batch.lines === undefined) !== (batch.packed === undefined), 'send either lines or packed');
export type AppendLogsRequest = z.input<typeof AppendLogsRequest>;

export const AppendLogsResponse = z.object({
  seq: z.number().int(),
  /** False when this batch had been stored before: the retry was acknowledged, nothing was added. */
  stored: z.boolean(),
  next_seq: z.number().int(),
  line_count: z.number().int(),
});
export type AppendLogsResponse = z.infer<typeof AppendLogsResponse>;

export const LogLine = z.object({
  /** Line number in the task's log, from 0. */
  index: z.number().int(),
  stream: LogStream,
  message: z.string(),
  timestamp: Timestamp,
});
export type LogLine = z.infer<typeof LogLine>;

/** The most lines one GET /tasks/:id/logs answers (`limit`). */
export const MAX_LOG_PAGE_LINES = 10_000;

export const LogsQuery = z.strictObject({
  /** Return lines with index greater than this (omit to start at line 0). */
  after: z.coerce.number().int().min(-1).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LOG_PAGE_LINES).default(1000),
});

export const LogPage = z.object({ items: z.array(LogLine), next_cursor: z.string().nullable() });
export type LogPage = z.infer<typeof LogPage>;
