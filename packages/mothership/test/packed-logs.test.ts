import { beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Log batches sent packed (`packed`: the lines in columns, as the solder sends them) are stored
 * and read back exactly as the same lines sent one object each, in the same numbering.
 */
describe('packed log batches', () => {
  const borg = useTestMothership();
  let runner: TestRunner;

  beforeAll(async () => {
    runner = await borg().registerRunner({ max_concurrent_tasks: 16, labels: { packed: 'yes' } });
  });

  async function heldTask(): Promise<string> {
    await borg().admin.createJob({ name: 'packed', command: 'true', labels: { packed: 'yes' } });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    return task.id;
  }

  it('stores each line with its stream and its time, numbered after the lines sent before', async () => {
    const taskId = await heldTask();
    await runner.client.appendTaskLogs(taskId, {
      seq: 0,
      lines: [{ stream: 'stdout', message: 'first', timestamp: '2026-12-03T10:00:00.000Z' }],
    });
    expect(
      await runner.client.appendTaskLogs(taskId, {
        seq: 1,
        packed: {
          streams: 'oes',
          messages: ['out', 'err \u0000 with a NUL', 'borg’s own'],
          logged_at: '2026-12-03T10:00:01.000Z',
          offsets_ms: [0, 5, 1250],
        },
      }),
    ).toEqual({ seq: 1, stored: true, next_seq: 2, line_count: 4 });
    // Without times and offsets: every line gets the server's time.
    await runner.client.appendTaskLogs(taskId, { seq: 2, packed: { streams: 'o', messages: ['last'] } });

    const lines = (await borg().admin.getTaskLogs(taskId)).items;
    expect(lines.slice(0, 4)).toEqual([
      { index: 0, stream: 'stdout', message: 'first', timestamp: '2026-12-03T10:00:00.000Z' },
      { index: 1, stream: 'stdout', message: 'out', timestamp: '2026-12-03T10:00:01.000Z' },
      { index: 2, stream: 'stderr', message: 'err \uFFFD with a NUL', timestamp: '2026-12-03T10:00:01.005Z' },
      { index: 3, stream: 'system', message: 'borg’s own', timestamp: '2026-12-03T10:00:02.250Z' },
    ]);
    expect(lines[4]).toMatchObject({ index: 4, stream: 'stdout', message: 'last' });
    expect(Date.now() - Date.parse(lines[4]!.timestamp)).toBeLessThan(60_000);
  });

  it('acknowledges a packed batch sent again without storing it twice', async () => {
    const taskId = await heldTask();
    const batch = { seq: 0, packed: { streams: 'oo', messages: ['a', 'b'] } };
    await runner.client.appendTaskLogs(taskId, batch);
    expect(await runner.client.appendTaskLogs(taskId, batch)).toEqual({
      seq: 0,
      stored: false,
      next_seq: 1,
      line_count: 2,
    });
    expect((await borg().admin.getTaskLogs(taskId)).items.map((l) => l.message)).toEqual(['a', 'b']);
  });

  it.each([
    ['a stream letter for each message', { streams: 'o', messages: ['a', 'b'] }],
    ['an offset for each message', { streams: 'oo', messages: ['a', 'b'], offsets_ms: [0] }],
    ['known stream letters', { streams: 'x', messages: ['a'] }],
    ['offsets that fit an integer', { streams: 'o', messages: ['a'], offsets_ms: [2 ** 31] }],
    ['a valid first time', { streams: 'o', messages: ['a'], logged_at: 'yesterday' }],
  ])('refuses a packed batch without %s, storing nothing', async (_, packed) => {
    const taskId = await heldTask();
    const answer = await rawRequest(borg().url, {
      method: 'POST',
      path: `/api/v1/tasks/${taskId}/logs`,
      token: runner.token,
      body: JSON.stringify({ seq: 0, packed }),
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect((await borg().admin.getTaskLogs(taskId)).items).toEqual([]);
  });

  it('refuses a batch with both lines and packed, or neither', async () => {
    const taskId = await heldTask();
    for (const body of [
      { seq: 0, lines: [{ stream: 'stdout', message: 'a' }], packed: { streams: 'o', messages: ['a'] } },
      { seq: 0 },
    ]) {
      const answer = await rawRequest(borg().url, {
        method: 'POST',
        path: `/api/v1/tasks/${taskId}/logs`,
        token: runner.token,
        body: JSON.stringify(body),
      });
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body)).toContain('send either lines or packed');
    }
  });
});
