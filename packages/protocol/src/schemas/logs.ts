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

export const AppendLogsRequest = z.strictObject({
  /** Batch number, from 0, contiguous per task: the server stores batch n only after n - 1. */
  seq: z.number().int().min(0).max(100_000_000),
  lines: z.array(LogLineInput).max(MAX_LINES_PER_BATCH),
});
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
