import {
  type AppendLogsRequest,
  type AppendLogsResponse,
  BorgApiError,
  type BorgClient,
  logOffsetMs,
  STREAM_LETTERS,
} from '@borg/protocol';

import type { LogBatch } from './log-spool.ts';

/**
 * A batch with its lines in columns (`packed`, see PackedLogLines): the first line's time and
 * each line's offset from it in ms. A line without a time takes the one before it (the server's
 * time when none has one); the solder stamps every line, so this does not arise from its tasks.
 */
export function packBatch(batch: LogBatch): AppendLogsRequest {
  const { lines } = batch;
  const messages = new Array<string>(lines.length);
  const offsets = new Array<number>(lines.length);
  const loggedAt = lines.find((line) => line.timestamp !== undefined)?.timestamp;
  const firstMs = loggedAt === undefined ? 0 : Date.parse(loggedAt);
  let streams = '';
  let varied = false;
  // Lines of one burst share their time stamp's text: each distinct one is parsed once.
  let stamp = loggedAt;
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    streams += STREAM_LETTERS[line.stream];
    messages[i] = line.message;
    if (line.timestamp !== undefined && line.timestamp !== stamp) {
      stamp = line.timestamp;
      const ms = Date.parse(stamp) - firstMs;
      offset = Number.isNaN(ms) ? 0 : logOffsetMs(ms);
      if (offset !== 0) varied = true;
    }
    offsets[i] = offset;
  }
  return {
    seq: batch.seq,
    packed: {
      streams,
      messages,
      ...(loggedAt !== undefined && { logged_at: loggedAt }),
      offsets_ms: varied ? offsets : null,
    },
  };
}

/**
 * Sends a task's log batches packed. A mothership from before the packed form refuses it as
 * invalid; from then on this solder sends every batch as one object a line, which every
 * mothership takes (the refused batch is sent again at once that way: it was not stored).
 */
export class LogBatchSender {
  private packed = true;

  constructor(
    private readonly client: BorgClient,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void = () => undefined,
  ) {}

  async send(taskId: string, batch: LogBatch): Promise<AppendLogsResponse> {
    if (this.packed) {
      try {
        return await this.client.appendTaskLogs(taskId, packBatch(batch));
      } catch (error) {
        if (!(error instanceof BorgApiError && error.code === 'VALIDATION_FAILED')) throw error;
        this.packed = false;
        this.log('the mothership does not take packed log batches: sending one object a line', {
          task_id: taskId,
          err: error.message,
        });
      }
    }
    return this.client.appendTaskLogs(taskId, { seq: batch.seq, lines: batch.lines });
  }
}
