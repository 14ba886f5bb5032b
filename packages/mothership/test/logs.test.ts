import { randomUUID } from 'node:crypto';

import { type AppendLogsResponse, BorgApiError, type LogLine } from '@borg/protocol';
import { beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * DESIGN "Semantics" 6 and the API contract's log routes; test plan F18 and B14: numbered
 * batches, stored in order exactly once, whatever order and how often they arrive, with the
 * text kept as it was sent.
 */

type Batch = Array<{ stream: 'stdout' | 'stderr'; message: string }>;

/** `count` batches of `perBatch` lines each, every line unique. */
const source = (count: number, perBatch = 3): Batch[] =>
  Array.from({ length: count }, (_, seq) =>
    Array.from({ length: perBatch }, (_, i) => ({
      stream: i % 2 ? ('stderr' as const) : ('stdout' as const),
      message: `batch ${seq} line ${i}`,
    })),
  );

describe('task logs', () => {
  const borg = useTestMothership();
  let runner: TestRunner;
  let other: TestRunner;

  beforeAll(async () => {
    runner = await borg().registerRunner({ max_concurrent_tasks: 64, labels: { logs: 'yes' } });
    other = await borg().registerRunner({ labels: { logs: 'no' } });
  });

  /** A fresh task held (and running) by `runner`. */
  async function heldTask(): Promise<string> {
    await borg().admin.createJob({ name: 'logs', command: 'true', labels: { logs: 'yes' } });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    return task.id;
  }

  /** Every stored line, read back page by page. */
  async function readAll(taskId: string, limit = 1000): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await borg().admin.getTaskLogs(taskId, { after, limit });
      lines.push(...page.items);
      if (page.next_cursor === null) return lines;
      after = Number(page.next_cursor);
    }
  }

  const append = (taskId: string, seq: number, lines: Batch, as = runner) =>
    as.client.appendTaskLogs(taskId, { seq, lines });

  it('stores batches in order, numbering lines across batches', async () => {
    const taskId = await heldTask();
    const batches = source(2);
    expect(await append(taskId, 0, batches[0]!)).toEqual({ seq: 0, stored: true, next_seq: 1, line_count: 3 });
    expect(await append(taskId, 1, batches[1]!)).toEqual({ seq: 1, stored: true, next_seq: 2, line_count: 6 });
    const lines = await readAll(taskId);
    expect(lines.map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(lines.map(({ stream, message }) => ({ stream, message }))).toEqual(batches.flat());
    for (const line of lines) expect(new Date(line.timestamp).toISOString()).toBe(line.timestamp);
  });

  it('acknowledges a repeated batch without storing it again', async () => {
    const taskId = await heldTask();
    const batches = source(2);
    await append(taskId, 0, batches[0]!);
    expect(await append(taskId, 0, batches[0]!)).toEqual({ seq: 0, stored: false, next_seq: 1, line_count: 3 });
    await append(taskId, 1, batches[1]!);
    // Even an older batch, resent late, and even with other content: the first copy stands.
    expect(await append(taskId, 0, [{ stream: 'stdout', message: 'a different retry' }])).toEqual({
      seq: 0,
      stored: false,
      next_seq: 2,
      line_count: 6,
    });
    expect((await readAll(taskId)).map((l) => l.message)).toEqual(batches.flat().map((l) => l.message));
  });

  it('refuses a batch past the next one with 409 LOG_SEQUENCE_GAP and the number to resend from', async () => {
    const taskId = await heldTask();
    await append(taskId, 0, source(1)[0]!);
    const gap = await append(taskId, 2, [{ stream: 'stdout', message: 'too early' }]).catch((e: unknown) => e);
    expect(gap).toBeInstanceOf(BorgApiError);
    expect(gap).toMatchObject({ status: 409, code: 'LOG_SEQUENCE_GAP', details: { next_seq: 1 } });
    expect(await readAll(taskId)).toHaveLength(3);
  });

  /** A sender that, told of a gap, resends from the batch the server asks for (as the solder does). */
  async function deliver(taskId: string, batches: Batch[], seq: number): Promise<AppendLogsResponse> {
    try {
      return await append(taskId, seq, batches[seq]!);
    } catch (error) {
      if (!(error instanceof BorgApiError) || error.code !== 'LOG_SEQUENCE_GAP') throw error;
      const next = (error.details as { next_seq: number }).next_seq;
      for (let s = next; s < seq; s++) await append(taskId, s, batches[s]!);
      return append(taskId, seq, batches[seq]!);
    }
  }

  it('ends with the source, in order and exactly once, after sends in the order 0, 2, 1, 1, 3 (F18)', async () => {
    const taskId = await heldTask();
    const batches = source(4);
    const answers: boolean[] = [];
    for (const seq of [0, 2, 1, 1, 3]) answers.push((await deliver(taskId, batches, seq)).stored);
    expect(answers).toEqual([true, true, false, false, true]);
    const lines = await readAll(taskId);
    expect(lines.map((l) => l.message)).toEqual(batches.flat().map((l) => l.message));
    expect(lines.map((l) => l.index)).toEqual(lines.map((_, i) => i));
  });

  it('ends with the source, in order and exactly once, when twenty batches race each other and are retried', async () => {
    const taskId = await heldTask();
    const batches = source(20, 2);
    // Every batch is sent at once, then sent again until the server has it.
    await Promise.all(
      batches.map(async (lines, seq) => {
        for (;;) {
          try {
            await append(taskId, seq, lines);
            return;
          } catch (error) {
            if (!(error instanceof BorgApiError) || error.code !== 'LOG_SEQUENCE_GAP') throw error;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      }),
    );
    await Promise.all(batches.map((lines, seq) => append(taskId, seq, lines))); // and duplicates of all
    expect((await readAll(taskId)).map((l) => l.message)).toEqual(batches.flat().map((l) => l.message));
  });

  it('keeps a batch with a NUL in it, storing U+FFFD in its place (B14)', async () => {
    const taskId = await heldTask();
    const lines: Batch = [
      { stream: 'stdout', message: 'before' },
      { stream: 'stdout', message: 'binary\u0000output\u0000' },
      { stream: 'stdout', message: 'after' },
    ];
    expect(await append(taskId, 0, lines)).toMatchObject({ stored: true, line_count: 3 });
    expect((await readAll(taskId)).map((l) => l.message)).toEqual(['before', 'binary\uFFFDoutput\uFFFD', 'after']);
  });

  it('stores emoji, right-to-left, ANSI, markup, control-looking and megabyte-long text verbatim (B11, B12, B14)', async () => {
    const taskId = await heldTask();
    const messages = [
      '🦀 4-byte emoji 𝕏 and a family 👩‍👩‍👧',
      'right-to-left \u202Eevil.exe\u202C and Hebrew שלום',
      '\u001b[31mred\u001b[0m \u001b]8;;javascript:alert(1)\u0007click\u001b]8;;\u0007',
      '<script>alert(1)</script><img src=x onerror=alert(1)>',
      '::set-env name=PATH::/tmp',
      '{"status":"succeeded","exit_code":0}',
      'carriage\rreturn\ttab',
      'combining e\u0301 and zero\u200Bwidth',
      'x'.repeat(1_000_000),
      '',
    ];
    await append(
      taskId,
      0,
      messages.map((message) => ({ stream: 'stdout', message })),
    );
    expect((await readAll(taskId)).map((l) => l.message)).toEqual(messages);
    // Text that looks like a status report changed nothing.
    const task = await rawRequest(borg().url, { path: `/api/v1/tasks/${taskId}`, token: borg().adminToken });
    expect(task.body).toMatchObject({ status: 'running', exit_code: null });
  });

  it('pages with after and limit, and next_cursor until the end', async () => {
    const taskId = await heldTask();
    const batches = source(5, 5);
    for (const [seq, lines] of batches.entries()) await append(taskId, seq, lines);

    const first = await borg().admin.getTaskLogs(taskId, { limit: 10 });
    expect(first.items.map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(first.next_cursor).toBe('9');
    const second = await borg().admin.getTaskLogs(taskId, { after: 9, limit: 10 });
    expect(second.items.map((l) => l.index)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const last = await borg().admin.getTaskLogs(taskId, { after: 19, limit: 10 });
    expect(last.items.map((l) => l.index)).toEqual([20, 21, 22, 23, 24]);
    expect(last.next_cursor).toBeNull();
    expect((await borg().admin.getTaskLogs(taskId, { after: 24 })).items).toEqual([]);

    const paged = await readAll(taskId, 7);
    expect(paged.map((l) => l.message)).toEqual(batches.flat().map((l) => l.message));
  });

  it('refuses lines from a runner that does not hold the task (403), storing nothing', async () => {
    const taskId = await heldTask();
    await append(taskId, 0, source(1)[0]!);
    for (const seq of [0, 1]) {
      await expect(append(taskId, seq, [{ stream: 'stdout', message: 'forged' }], other)).rejects.toMatchObject({
        status: 403,
        code: 'FORBIDDEN',
      });
    }
    expect((await readAll(taskId)).map((l) => l.message)).not.toContain('forged');
    expect(await readAll(taskId)).toHaveLength(3);
  });

  it('takes trailing lines after the runner ended the task itself, but not after the server took it back (409)', async () => {
    const taskId = await heldTask();
    await append(taskId, 0, source(1)[0]!);
    await runner.client.reportTaskStatus(taskId, { status: 'succeeded', exit_code: 0 });
    expect(await append(taskId, 1, [{ stream: 'stdout', message: 'flushed late' }])).toMatchObject({ stored: true });

    const fresh = await borg().registerRunner({ labels: { logs: 'lost' } });
    await borg().admin.createJob({ name: 'will be lost', command: 'true', labels: { logs: 'lost' } });
    const lostTask = (await fresh.client.nextTasks(fresh.id, { wait: 0 }))!.items[0]!.id;
    // Registering again ends the old session: its task is lost, and the new session may not write to it.
    const again = await borg().registerRunner({ device_id: fresh.deviceId, labels: { logs: 'lost' } });
    await expect(append(lostTask, 0, [{ stream: 'stdout', message: 'stale' }], again)).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
    });
    expect(await readAll(lostTask)).toEqual([]);
  });

  it('answers 404 for the log of a task that does not exist', async () => {
    const missing = randomUUID();
    const read = await rawRequest(borg().url, { path: `/api/v1/tasks/${missing}/logs`, token: borg().adminToken });
    expect(read.status).toBe(404);
    expect(read.body).toMatchObject({ error: { code: 'TASK_NOT_FOUND' } });
    await expect(append(missing, 0, [])).rejects.toMatchObject({ status: 404, code: 'TASK_NOT_FOUND' });
  });
});
