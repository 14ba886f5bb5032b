import { randomUUID } from 'node:crypto';

import { MAX_STATUS_REPORTS, type TaskStatusReport } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { planBatch } from '../src/dispatch/status-batch.ts';

describe('a batch of status reports (POST /runners/:id/tasks/status)', () => {
  const borg = useTestMothership();

  async function runner(name = `batch-${randomUUID().slice(0, 8)}`): Promise<TestRunner> {
    return borg().registerRunner({ name, max_concurrent_tasks: 1000, labels: { pool: name } });
  }

  /** Submits a job of `size` tasks only `runner` takes and claims them all. */
  async function claimed(runner: TestRunner, size = 1, extra: Record<string, unknown> = {}) {
    const pool = (await borg().admin.getRunner(runner.id)).labels.pool!;
    const job = await borg().admin.createJob({
      name: `batch-${randomUUID()}`,
      type: 'shell',
      command: 'true',
      labels: { pool },
      ...(size > 1 ? { array_size: size } : {}),
      ...extra,
    });
    const next = await runner.client.nextTasks(runner.id, { wait: 0, max: size });
    expect(next?.items).toHaveLength(size);
    return { job, taskIds: next!.items.map((t) => t.id) };
  }

  const statusOf = async (taskId: string) => {
    const { rows } = await borg().db.query<{ status: string; started_at: Date | null; exit_code: number | null }>(
      'SELECT status, started_at, exit_code FROM tasks WHERE id = $1',
      [taskId],
    );
    return rows[0]!;
  };

  it('takes a short task from assigned to succeeded when its running and its ending travel together', async () => {
    const me = await runner();
    const { job, taskIds } = await claimed(me);
    const [id] = taskIds as [string];
    const seen: string[] = [];
    const off = borg().mothership.bus.on('task.updated', (e) => e.task.id === id && seen.push(e.task.status));
    try {
      const { results } = await me.client.reportTaskStatuses(me.id, {
        reports: [
          { task_id: id, status: 'running' },
          { task_id: id, status: 'succeeded', exit_code: 0 },
        ],
      });
      expect(results).toEqual([
        { task_id: id, status: 'succeeded', cancel_requested: false },
        { task_id: id, status: 'succeeded', cancel_requested: false },
      ]);
    } finally {
      off();
    }
    const row = await statusOf(id);
    expect(row).toMatchObject({ status: 'succeeded', exit_code: 0 });
    expect(row.started_at).not.toBeNull();
    expect(seen).toEqual(['succeeded']);
    await expect.poll(async () => (await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('ends every task of an array job in one request and ends the job', async () => {
    const me = await runner();
    const { job, taskIds } = await claimed(me, 40);
    const started = await me.client.reportTaskStatuses(me.id, {
      reports: taskIds.map((task_id) => ({ task_id, status: 'running' as const })),
    });
    expect(started.results.every((r) => 'status' in r && r.status === 'running')).toBe(true);
    const ended = await me.client.reportTaskStatuses(me.id, {
      reports: taskIds.map((task_id) => ({ task_id, status: 'succeeded' as const, exit_code: 0 })),
    });
    expect(ended.results.map((r) => r.task_id)).toEqual(taskIds);
    expect(ended.results.every((r) => 'status' in r && r.status === 'succeeded')).toBe(true);
    const after = await borg().admin.getJob(job.id);
    expect(after.status).toBe('succeeded');
    expect(after.tasks.every((t) => t.status === 'succeeded')).toBe(true);
  });

  it('applies a failure after its running, with the job’s retry rule, beside tasks of the fast path', async () => {
    const me = await runner();
    const failing = await claimed(me, 1, { retry: { max_attempts: 2, backoff: { initial: '0s', max: '0s' } } });
    const plain = await claimed(me);
    const [f, p] = [failing.taskIds[0]!, plain.taskIds[0]!];
    const { results } = await me.client.reportTaskStatuses(me.id, {
      reports: [
        { task_id: f, status: 'running' },
        { task_id: p, status: 'running' },
        { task_id: f, status: 'failed', exit_code: 3 },
        { task_id: p, status: 'succeeded', exit_code: 0 },
      ],
    });
    // A running followed by its ending is answered as the ending is.
    expect(results).toEqual([
      { task_id: f, status: 'failed', cancel_requested: false },
      { task_id: p, status: 'succeeded', cancel_requested: false },
      { task_id: f, status: 'failed', cancel_requested: false },
      { task_id: p, status: 'succeeded', cancel_requested: false },
    ]);
    const job = await borg().admin.getJob(failing.job.id);
    expect(job.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'failed'],
      [2, 'pending'],
    ]);
  });

  it('answers each refused report on its own and applies the rest', async () => {
    const [me, other] = [await runner(), await runner()];
    const mine = (await claimed(me)).taskIds[0]!;
    const theirs = (await claimed(other)).taskIds[0]!;
    const unknown = randomUUID();
    const { results } = await me.client.reportTaskStatuses(me.id, {
      reports: [
        { task_id: theirs, status: 'running' },
        { task_id: unknown, status: 'running' },
        { task_id: mine, status: 'succeeded', exit_code: 0 }, // not running yet
        { task_id: mine, status: 'running' },
      ],
    });
    expect(results).toEqual([
      { task_id: theirs, error: { code: 'FORBIDDEN', message: expect.any(String) } },
      { task_id: unknown, error: { code: 'TASK_NOT_FOUND', message: expect.any(String) } },
      { task_id: mine, error: { code: 'ILLEGAL_TRANSITION', message: expect.any(String) } },
      { task_id: mine, status: 'running', cancel_requested: false },
    ]);
    expect((await statusOf(theirs)).status).toBe('assigned');
    expect((await statusOf(mine)).status).toBe('running');
  });

  it('answers a batch sent again (its answer lost) as before, without a second change or event', async () => {
    const me = await runner();
    const [a, b] = (await claimed(me, 2)).taskIds as [string, string];
    const batch = {
      reports: [
        { task_id: a, status: 'running' },
        { task_id: a, status: 'succeeded', exit_code: 0 },
        { task_id: b, status: 'running' },
        { task_id: b, status: 'failed', exit_code: 2 },
      ] satisfies TaskStatusReport[],
    };
    const first = await me.client.reportTaskStatuses(me.id, batch);
    const events: string[] = [];
    const off = borg().mothership.bus.on('task.updated', (e) => events.push(`${e.task.id}:${e.task.status}`));
    try {
      const again = await me.client.reportTaskStatuses(me.id, batch);
      expect(again).toEqual(first);
      expect(again.results.map((r) => 'status' in r && r.status)).toEqual([
        'succeeded',
        'succeeded',
        'failed',
        'failed',
      ]);
    } finally {
      off();
    }
    expect(events).toEqual([]);
  });

  it('tells the runner of a cancel requested while the task ran', async () => {
    const me = await runner();
    const { job, taskIds } = await claimed(me);
    await me.client.reportTaskStatuses(me.id, { reports: [{ task_id: taskIds[0]!, status: 'running' }] });
    await borg().admin.cancelJob(job.id);
    const { results } = await me.client.reportTaskStatuses(me.id, {
      reports: [{ task_id: taskIds[0]!, status: 'running' }],
    });
    expect(results).toEqual([{ task_id: taskIds[0], status: 'running', cancel_requested: true }]);
  });

  it('is a runner’s own route: another runner’s token and a user token are refused, nothing moves', async () => {
    const [me, other] = [await runner(), await runner()];
    const id = (await claimed(me)).taskIds[0]!;
    const body = JSON.stringify({ reports: [{ task_id: id, status: 'running' }] });
    for (const token of [other.token, borg().adminToken]) {
      const answer = await rawRequest(borg().url, {
        method: 'POST',
        path: `/api/v1/runners/${me.id}/tasks/status`,
        token,
        body,
      });
      expect(answer.status).toBe(403);
    }
    const anonymous = await rawRequest(borg().url, {
      method: 'POST',
      path: `/api/v1/runners/${me.id}/tasks/status`,
      body,
    });
    expect(anonymous.status).toBe(401);
    expect((await statusOf(id)).status).toBe('assigned');
  });

  it('refuses a malformed batch whole with 400: empty, too long, a bad id, a status a runner may not report', async () => {
    const me = await runner();
    const id = (await claimed(me)).taskIds[0]!;
    const bodies = [
      { reports: [] },
      { reports: Array.from({ length: MAX_STATUS_REPORTS + 1 }, () => ({ task_id: id, status: 'running' })) },
      { reports: [{ task_id: 'not-a-uuid', status: 'running' }] },
      { reports: [{ task_id: id, status: 'lost' }] },
      { reports: [{ task_id: id, status: 'running', extra: 1 }] },
    ];
    for (const body of bodies) {
      const answer = await rawRequest(borg().url, {
        method: 'POST',
        path: `/api/v1/runners/${me.id}/tasks/status`,
        token: me.token,
        body: JSON.stringify(body),
      });
      expect(answer.status).toBe(400);
    }
    expect((await statusOf(id)).status).toBe('assigned');
  });
});

describe('planBatch', () => {
  const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;

  it('sends the common reports to the statement and the rest alone, in the batch’s order', () => {
    const plan = planBatch([
      { task_id: id(1), status: 'running' },
      { task_id: id(2), status: 'succeeded', exit_code: 0 },
      { task_id: id(3), status: 'running' },
      { task_id: id(3), status: 'succeeded', exit_code: 0, error: 'warn' },
      { task_id: id(4), status: 'running' },
      { task_id: id(4), status: 'cancelled' },
      { task_id: id(5), status: 'failed', exit_code: 1 },
      { task_id: id(6), status: 'running' },
      { task_id: id(6), status: 'running' },
    ]);
    expect(plan.running).toEqual([id(1), id(4)]);
    expect(plan.succeeded).toEqual([
      { id: id(2), exitCode: 0, error: null, fromAssigned: false },
      { id: id(3), exitCode: 0, error: 'warn', fromAssigned: true },
    ]);
    expect(plan.reports.map((r) => [r.index, r.byStatement, r.endingFollows])).toEqual([
      [0, 'running', false],
      [1, 'succeeded', false],
      [2, 'succeeded', true],
      [3, 'succeeded', false],
      [4, 'running', true],
      [5, null, false],
      [6, null, false],
      [7, null, false],
      [8, null, false],
    ]);
  });
});
