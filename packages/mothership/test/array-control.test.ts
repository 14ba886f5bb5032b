import { randomUUID } from 'node:crypto';

import { type BorgClient, type CreateJobRequest, type Job, type Task } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import type { Database, Queryable } from '../../../packages/mothership/src/db/database.ts';
import type { BorgEvent } from '../../../packages/mothership/src/events/event-bus.ts';
import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Arrays under control, through the API: PATCH max_parallel, GET elements, retry and cancel of
 * one element or a selection, who may do them, and the events they publish. (max-parallel.test.ts
 * holds the limit under load.)
 */

/** Counts the statements the mothership sends while `counting` is on (a selection's action must be one or a few). */
const statements = { counting: false, count: 0 };
function countStatements(db: Database): Database {
  const counted = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      if (statements.counting) statements.count++;
      return q.query(sql, params);
    },
    exec: (sql) => q.exec(sql),
  });
  const outer = counted(db);
  return {
    engine: db.engine,
    query: outer.query,
    exec: outer.exec,
    transaction: (fn) => db.transaction((tx) => fn(counted(tx))),
    listen: (channel, onMessage) => db.listen(channel, onMessage),
    tryAcquireSessionLock: (key) => db.tryAcquireSessionLock(key),
    close: () => db.close(),
  };
}

describe('array control through the API', () => {
  const borg = useTestMothership({ wrap: { wrapDatabase: countStatements } });
  const invariants = new InvariantChecker(() => borg().db);
  afterEach(async () => {
    expect(await invariants.check()).toEqual([]);
  });

  /** Each test's jobs and runners share a label no other test uses, so they never meet. */
  function scope(client: BorgClient = borg().admin) {
    const labels = { scope: randomUUID() };
    return {
      submit: (job: Partial<CreateJobRequest> = {}) =>
        client.createJob({ name: 'array-test', type: 'shell', command: 'true', ...job, labels }),
      runner: (capacity = 1) => borg().registerRunner({ max_concurrent_tasks: capacity, labels }),
    };
  }

  const claim = async (runner: TestRunner, max = 1): Promise<Task[]> =>
    ((await runner.client.nextTasks(runner.id, { wait: 0, max }))?.items ?? []) as unknown as Task[];

  /** Runs every claimable element to the end: those in `failing` exit 3, the others succeed. */
  async function runAll(runner: TestRunner, failing: readonly number[] = []): Promise<void> {
    for (;;) {
      const tasks = await claim(runner, 100);
      if (tasks.length === 0) return;
      for (const task of tasks) {
        await runner.client.reportTaskStatus(task.id, { status: 'running' });
        const fails = failing.includes(task.index);
        await runner.client.reportTaskStatus(
          task.id,
          fails ? { status: 'failed', exit_code: 3 } : { status: 'succeeded', exit_code: 0 },
        );
      }
    }
  }

  /** The events published while fn runs. */
  async function eventsOf<T>(fn: () => Promise<T>): Promise<{ result: T; events: BorgEvent[] }> {
    const events: BorgEvent[] = [];
    const off = borg().mothership.bus.onAny((event) => events.push(event));
    try {
      return { result: await fn(), events };
    } finally {
      off();
    }
  }

  async function tokenWith(role: 'viewer' | 'submitter' | 'operator'): Promise<BorgClient> {
    const { token } = await borg().admin.createToken({ name: `${role}-${randomUUID().slice(0, 8)}`, role });
    return borg().client(token);
  }

  it('takes max_parallel at submit, shows it, and changes or lifts it with PATCH', async () => {
    const { submit } = scope();
    const job = await submit({ array_size: 4, max_parallel: 2 });
    expect(job.max_parallel).toBe(2);
    expect((await borg().admin.getJob(job.id)).max_parallel).toBe(2);
    expect((await borg().admin.updateJob(job.id, { max_parallel: 3 })).max_parallel).toBe(3);
    expect((await borg().admin.updateJob(job.id, { max_parallel: null })).max_parallel).toBeNull();
    expect((await submit()).max_parallel).toBeNull();

    for (const bad of [0, 10_001, 1.5, 'two']) {
      await expect(submit({ max_parallel: bad as number })).rejects.toMatchObject({
        status: 400,
        code: 'VALIDATION_FAILED',
      });
      await expect(borg().admin.updateJob(job.id, { max_parallel: bad as number })).rejects.toMatchObject({
        status: 400,
      });
    }
    await expect(borg().admin.updateJob(job.id, {})).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('give a field to change'),
    });
    await expect(borg().admin.updateJob(randomUUID(), { max_parallel: 2 })).rejects.toMatchObject({ status: 404 });
  });

  it('holds a limited job to its limit, retries included, and wakes a waiting runner when a place frees up or the limit rises', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 8, max_parallel: 2, max_attempts: 2 });
    const first = await runner(8);
    const held = await claim(first, 8);
    expect(held.map((t) => t.index)).toEqual([0, 1]);
    expect(await claim(first, 8)).toEqual([]);
    // Why element 2 waits: its job's limit, whatever the runners.
    const waitingTask = (await borg().admin.getJob(job.id)).tasks.find((t) => t.index === 2)!;
    const placement = await borg().admin.getTaskPlacement(waitingTask.id);
    expect(placement.job_reasons).toEqual(['max_parallel reached: 2 of 2 elements held']);
    expect(placement.summary).toContain('max_parallel reached');

    // Two failures earn retries; the retries are limited like their job.
    for (const task of held) {
      await first.client.reportTaskStatus(task.id, { status: 'running' });
      await first.client.reportTaskStatus(task.id, { status: 'failed', exit_code: 1 });
    }
    const next = await claim(first, 8);
    expect(next).toHaveLength(2);

    // A second runner waits in its long-poll; one ending frees a place, and it is woken for it.
    const second = await runner(8);
    const waiting = second.client.nextTasks(second.id, { wait: 30, max: 8 });
    await expect.poll(() => borg().services.dispatcher.parked, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await first.client.reportTaskStatus(next[0]!.id, { status: 'running' });
    await first.client.reportTaskStatus(next[0]!.id, { status: 'succeeded', exit_code: 0 });
    expect((await waiting)?.items).toHaveLength(1);

    // Raising the limit wakes it again, for the room it made.
    const again = second.client.nextTasks(second.id, { wait: 30, max: 8 });
    await expect.poll(() => borg().services.dispatcher.parked, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await borg().admin.updateJob(job.id, { max_parallel: 5 });
    expect((await again)?.items).toHaveLength(3);
    expect(await heldOf(job.id)).toBe(5);

    // Lowering it stops nothing that runs; nothing new starts until the held ones are below it.
    await borg().admin.updateJob(job.id, { max_parallel: 1 });
    expect(await heldOf(job.id)).toBe(5);
    expect(await claim(second, 8)).toEqual([]);
    await borg().admin.cancelJob(job.id);
  });

  async function heldOf(jobId: string): Promise<number> {
    const { rows } = await borg().db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running')`,
      [jobId],
    );
    return rows[0]!.n;
  }

  it('lists every element’s latest attempt compactly', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 3 });
    const solder = await runner(3);
    await runAll(solder, [1]);
    await borg().admin.retryElement(job.id, '1');
    const elements = await borg().admin.listJobElements(job.id);
    expect(elements).toMatchObject({ job_id: job.id, array_size: 3, max_parallel: null });
    expect(
      elements.items.map(({ index, status, attempt, exit_code }) => ({ index, status, attempt, exit_code })),
    ).toEqual([
      { index: 0, status: 'succeeded', attempt: 1, exit_code: 0 },
      { index: 1, status: 'pending', attempt: 2, exit_code: null },
      { index: 2, status: 'succeeded', attempt: 1, exit_code: 0 },
    ]);
    expect(elements.items[0]).toMatchObject({ runner_id: solder.id, cancel_requested: false });
    expect(elements.items[1]!.runner_id).toBeNull();
    const { tasks } = await borg().admin.getJob(job.id);
    expect(elements.items[1]!.task_id).toBe(tasks.find((t) => t.index === 1 && t.attempt === 2)!.id);
    await expect(borg().admin.listJobElements(randomUUID())).rejects.toMatchObject({ status: 404 });
  });

  it('retries one element that ended unsucceeded, also while the job runs, and recomputes the job', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 4 });
    const solder = await runner(4);
    const [zero, one] = await claim(solder, 2);
    await solder.client.reportTaskStatus(zero!.id, { status: 'running' });
    await solder.client.reportTaskStatus(zero!.id, { status: 'failed', exit_code: 7 });

    // The job still runs (element 1 is held, 2 and 3 pending): element 0 gets attempt 2 at once.
    const { result, events } = await eventsOf(() => borg().admin.retryElement(job.id, '0'));
    expect(result).toMatchObject({ indexes: [0], skipped: 0, job: { id: job.id, status: 'running' } });
    const created = events.filter((e) => e.type === 'task.updated').map((e) => (e as { task: Task }).task);
    expect(created).toMatchObject([{ index: 0, attempt: 2, status: 'pending' }]);
    expect(events.some((e) => e.type === 'job.updated' && e.job.id === job.id)).toBe(true);
    expect(events.some((e) => e.type === 'tasks.available')).toBe(true);

    // Not retried: a held element, a succeeded one, an element that does not exist.
    await expect(borg().admin.retryElement(job.id, '1')).rejects.toMatchObject({
      status: 409,
      message: `element 1 of job ${job.id} is assigned: only an element whose latest attempt ended without succeeding is retried`,
    });
    await solder.client.reportTaskStatus(one!.id, { status: 'running' });
    await solder.client.reportTaskStatus(one!.id, { status: 'succeeded', exit_code: 0 });
    await expect(borg().admin.retryElement(job.id, '1')).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('is succeeded'),
    });
    await expect(borg().admin.retryElement(job.id, '4')).rejects.toMatchObject({
      status: 404,
      message: `job ${job.id} has no element 4: its elements are 0 to 3`,
    });
    for (const bad of ['-1', 'abc', '1.5', '99999999999']) {
      await expect(borg().admin.retryElement(job.id, bad)).rejects.toMatchObject({ status: 400 });
    }
    await expect(borg().admin.retryElement(randomUUID(), '0')).rejects.toMatchObject({
      status: 404,
      code: 'JOB_NOT_FOUND',
    });

    // A job that ended failed runs again when one of its elements is retried.
    await runAll(solder, [0, 2, 3]);
    expect((await borg().admin.getJob(job.id)).status).toBe('failed');
    const revived = await borg().admin.retryElement(job.id, '2');
    expect(revived.job).toMatchObject({ status: 'running', completed_at: null });
    await runAll(solder);
    const ended = await borg().admin.getJob(job.id);
    expect(ended.status).toBe('failed'); // elements 0 and 3 still failed
    expect(ended.tasks.filter((t) => t.index === 2).map((t) => t.status)).toEqual(['failed', 'succeeded']);
  });

  it('retries a selection by status or by indexes in one call, skipping elements not in a state for it', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 10 });
    const solder = await runner(10);
    await runAll(solder, [1, 3, 5, 7]);
    await borg()
      .admin.cancelElement(job.id, '9')
      .catch(() => undefined); // already ended: refused, changes nothing

    const byIndexes = await borg().admin.retryElements(job.id, { indexes: [1, 2, 3, 3] });
    expect(byIndexes).toMatchObject({ indexes: [1, 3], skipped: 1 });
    const byStatus = await borg().admin.retryElements(job.id, { status: ['failed'] });
    expect(byStatus).toMatchObject({ indexes: [5, 7], skipped: 0 });
    await expect(borg().admin.retryElements(job.id, { status: ['failed'] })).rejects.toMatchObject({
      status: 409,
      message: 'none of the selected elements has ended without succeeding: nothing to retry',
    });

    await expect(borg().admin.retryElements(job.id, { indexes: [2, 10, 11] })).rejects.toMatchObject({
      status: 400,
      message: `job ${job.id} has no element 10, 11: its elements are 0 to 9`,
    });
    for (const body of [
      {},
      { indexes: [1], status: ['failed'] },
      { indexes: [] },
      { status: ['succeeded'] },
      { indexes: [-1] },
    ]) {
      await expect(borg().admin.retryElements(job.id, body as never)).rejects.toMatchObject({ status: 400 });
    }
    await runAll(solder);
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('cancels a pending element at once and a held one through its runner, and does not retry it', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 3, max_attempts: 3, command: 'sleep 600' });
    const solder = await runner(1);
    const [held] = await claim(solder);
    await solder.client.reportTaskStatus(held!.id, { status: 'running' });

    const pending = await borg().admin.cancelElement(job.id, '2');
    expect(pending).toMatchObject({ indexes: [2], job: { status: 'running' } });
    const two = (await borg().admin.getJob(job.id)).tasks.find((t) => t.index === 2)!;
    expect(two).toMatchObject({ status: 'cancelled', reason: 'cancelled', cancel_requested: true });

    // The held one: flagged, and its runner told (a long-poll listening for cancels returns).
    const listening = solder.client.nextTasks(solder.id, { wait: 30, max: 0 });
    await expect.poll(() => borg().services.dispatcher.waiting, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    const { events } = await eventsOf(() => borg().admin.cancelElement(job.id, '0'));
    expect(events).toContainEqual({ type: 'task.cancel_requested', runner_id: solder.id, task_id: held!.id });
    expect((await listening)?.cancel_task_ids).toEqual([held!.id]);
    expect((await solder.client.heartbeat(solder.id, {})).cancel_task_ids).toEqual([held!.id]);
    await solder.client.reportTaskStatus(held!.id, { status: 'cancelled' });

    const after = await borg().admin.getJob(job.id);
    expect(after.tasks.filter((t) => t.index === 0)).toMatchObject([{ status: 'cancelled', attempt: 1 }]);
    await expect(borg().admin.cancelElement(job.id, '0')).rejects.toMatchObject({
      status: 409,
      message: `element 0 of job ${job.id} is cancelled: only an element that has not ended is cancelled`,
    });
    expect((await borg().admin.cancelElements(job.id, { status: ['pending'] })).indexes).toEqual([1]);
    expect((await borg().admin.getJob(job.id)).status).toBe('cancelled');

    // A cancelled element can be retried; the job runs again.
    expect((await borg().admin.retryElements(job.id, { status: ['cancelled'] })).job).toMatchObject({
      status: 'running',
      completed_at: null,
    });
    await borg().admin.cancelJob(job.id);
  });

  it('acts on 10,000 elements in a handful of statements', async () => {
    const { submit } = scope();
    const job = await submit({ array_size: 10_000 });
    const count = async (fn: () => Promise<unknown>) => {
      statements.count = 0;
      statements.counting = true;
      try {
        await fn();
      } finally {
        statements.counting = false;
      }
      return statements.count;
    };
    let cancelled: number[] = [];
    const cancelling = await count(async () => {
      cancelled = (await borg().admin.cancelElements(job.id, { status: ['pending'] })).indexes;
    });
    expect(cancelled).toHaveLength(10_000);
    let retried: number[] = [];
    const retrying = await count(async () => {
      retried = (await borg().admin.retryElements(job.id, { indexes: Array.from({ length: 10_000 }, (_, i) => i) }))
        .indexes;
    });
    expect(retried).toHaveLength(10_000);
    const elements = await borg().admin.listJobElements(job.id);
    expect(elements.items).toHaveLength(10_000);
    expect(elements.items.every((e) => e.status === 'pending' && e.attempt === 2)).toBe(true);
    // The job's lock, the action, the status refresh and the job's view: not one per element.
    expect(cancelling).toBeLessThan(20);
    expect(retrying).toBeLessThan(20);
    await borg().admin.cancelJob(job.id);
  });

  it('lets only an operator or the job’s submitter act on it, and no one without a user token', async () => {
    const submitter = await tokenWith('submitter');
    const { submit } = scope(submitter);
    const job: Job = await submit({ array_size: 2, command: 'false' });
    const calls = (client: BorgClient) => [
      () => client.updateJob(job.id, { max_parallel: 1 }),
      () => client.retryElement(job.id, '0'),
      () => client.cancelElement(job.id, '0'),
      () => client.retryElements(job.id, { status: ['failed'] }),
      () => client.cancelElements(job.id, { indexes: [0] }),
    ];
    const viewer = await tokenWith('viewer');
    const other = await tokenWith('submitter');
    const runner = await borg().registerRunner();
    for (const [client, code] of [
      [viewer, 'FORBIDDEN'],
      [other, 'FORBIDDEN'],
      [runner.client, 'FORBIDDEN'],
      [borg().client(), 'UNAUTHORIZED'],
    ] as const) {
      for (const call of calls(client)) await expect(call()).rejects.toMatchObject({ code });
    }
    expect((await viewer.listJobElements(job.id)).items).toHaveLength(2);
    await expect(other.updateJob(job.id, { max_parallel: 1 })).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining('may change only the jobs it submitted'),
    });
    // The submitter itself and an operator may.
    expect((await submitter.updateJob(job.id, { max_parallel: 1 })).max_parallel).toBe(1);
    const operator = await tokenWith('operator');
    expect((await operator.cancelElement(job.id, '1')).indexes).toEqual([1]);
    expect((await submitter.cancelElements(job.id, { indexes: [0] })).indexes).toEqual([0]);
  });
});
