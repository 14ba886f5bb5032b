import { type AppendLogsRequest, BorgApiError, type BorgClient } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { LogBatchSender, packBatch } from '../src/log-batch-sender.ts';

describe('packBatch', () => {
  it('puts each line in columns: its stream letter, its message, its time after the first', () => {
    const packed = packBatch({
      seq: 4,
      lines: [
        { stream: 'stdout', message: 'a', timestamp: '2026-12-03T10:00:00.000Z' },
        { stream: 'stderr', message: 'b', timestamp: '2026-12-03T10:00:00.000Z' },
        { stream: 'system', message: 'c', timestamp: '2026-12-03T10:00:01.500Z' },
        { stream: 'stdout', message: 'd' }, // no time: the line before's
      ],
    });
    expect(packed).toEqual({
      seq: 4,
      packed: {
        streams: 'oeso',
        messages: ['a', 'b', 'c', 'd'],
        logged_at: '2026-12-03T10:00:00.000Z',
        offsets_ms: [0, 0, 1500, 1500],
      },
    });
  });

  it('sends no offsets when the lines share one time, and no time when none has one', () => {
    const same = '2026-12-03T10:00:00.000Z';
    expect(
      packBatch({
        seq: 0,
        lines: [
          { stream: 'stdout', message: 'a', timestamp: same },
          { stream: 'stdout', message: 'b', timestamp: same },
        ],
      }).packed,
    ).toEqual({ streams: 'oo', messages: ['a', 'b'], logged_at: same, offsets_ms: null });
    expect(packBatch({ seq: 0, lines: [{ stream: 'stderr', message: 'x' }] }).packed).toEqual({
      streams: 'e',
      messages: ['x'],
      offsets_ms: null,
    });
  });
});

describe('LogBatchSender', () => {
  /** A client whose log route refuses the packed form, as a mothership from before it does. */
  function olderMothership() {
    const sent: AppendLogsRequest[] = [];
    const client = {
      appendTaskLogs: (_taskId: string, batch: AppendLogsRequest) => {
        sent.push(batch);
        if (batch.packed) {
          return Promise.reject(new BorgApiError(400, 'VALIDATION_FAILED', 'Unrecognized key: "packed"'));
        }
        return Promise.resolve({ seq: batch.seq, stored: true, next_seq: batch.seq + 1, line_count: 1 });
      },
    };
    return { client: client as unknown as BorgClient, sent };
  }

  it('falls back to one object a line for good once the packed form is refused as invalid', async () => {
    const { client, sent } = olderMothership();
    const said: string[] = [];
    const sender = new LogBatchSender(client, (message) => said.push(message));
    const line = { stream: 'stdout' as const, message: 'x', timestamp: '2026-12-03T10:00:00.000Z' };
    expect(await sender.send('t', { seq: 0, lines: [line] })).toMatchObject({ seq: 0, stored: true });
    await sender.send('t', { seq: 1, lines: [line] });
    expect(sent.map((batch) => (batch.packed ? 'packed' : 'lines'))).toEqual(['packed', 'lines', 'lines']);
    expect(sent[1]).toEqual({ seq: 0, lines: [line] });
    expect(said).toHaveLength(1);
  });

  it('passes on any other refusal without changing form', async () => {
    const sent: AppendLogsRequest[] = [];
    const client = {
      appendTaskLogs: (_taskId: string, batch: AppendLogsRequest) => {
        sent.push(batch);
        return Promise.reject(new BorgApiError(409, 'STALE_TASK', 'taken back'));
      },
    } as unknown as BorgClient;
    const sender = new LogBatchSender(client);
    await expect(sender.send('t', { seq: 0, lines: [{ stream: 'stdout', message: 'x' }] })).rejects.toMatchObject({
      code: 'STALE_TASK',
    });
    await expect(sender.send('t', { seq: 0, lines: [{ stream: 'stdout', message: 'x' }] })).rejects.toThrow();
    expect(sent.every((batch) => batch.packed !== undefined)).toBe(true);
  });
});
