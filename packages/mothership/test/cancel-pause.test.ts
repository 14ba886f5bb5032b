import { randomUUID } from 'node:crypto';

import type { CreateJobRequest } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { ENGINE } from '../../../test/test-database.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Cancel and pause (semantics 4, F22), and how the claim chooses: array elements, priority then
 * FIFO, required labels, drained runners.
 */

const after = <T>(ms: number, fn: () => Promise<T>): Promise<T> =>
  new Promise((resolve) => setTimeout(resolve, ms)).then(fn);

describe('cancel, pause and what a claim picks', () => {
  const borg = useTestMothership();
  // Every case ends with the reliability invariants I1–I7 over the whole database (F22).
  const invariants = new InvariantChecker(() => borg().db);
  afterEach(async () => {
    expect(await invariants.check()).toEqual([]);
  });

  /** Each test's jobs and runners share a label no other test uses, so they never meet. */
  function scope() {
    const labels = { scope: randomUUID() };
    return {
      submit: (job: Partial<CreateJobRequest> = {}) =>
        borg().admin.createJob({
          name: 'cancel-test',
          type: 'shell',
          command: 'sleep 600',
          ...job,
          labels: { ...labels, ...job.labels },
        }),
      runner: (capacity = 1, extra: Record<string, string> = {}) =>
        borg().registerRunner({ max_concurrent_tasks: capacity, labels: { ...labels, ...extra } }),
    };
  }

  const claim = async (runner: TestRunner, max = 1) =>
    (await runner.client.nextTasks(runner.id, { wait: 0, max }))?.items ?? [];

  it('cancels a job’s pending tasks at once', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 3, max_attempts: 3 });
    const cancelled = await borg().admin.cancelJob(job.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.completed_at).not.toBeNull();
    const { tasks } = await borg().admin.getJob(job.id);
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      expect(task).toMatchObject({ status: 'cancelled', reason: 'cancelled', runner_id: null, cancel_requested: true });
      expect(task.completed_at).not.toBeNull();
    }
    expect(await claim(await runner(3), 3)).toEqual([]);
    expect((await borg().admin.cancelJob(job.id)).status).toBe('cancelled'); // again: same answer
  });

  it('flags a running task, tells its runner every way it listens, and does not retry it', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 2, max_attempts: 3 });
    const solder = await runner(1);
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });

    // The runner long-polls for cancels only (max=0) while its task runs.
    const listening = solder.client.nextTasks(solder.id, { wait: 30, max: 0 });
    await expect.poll(() => borg().services.dispatcher.waiting, { timeout: 10_000 }).toBe(1);
    await borg().admin.cancelJob(job.id);
    expect((await listening)?.cancel_task_ids).toEqual([task!.id]);

    const mid = await borg().admin.getJob(job.id);
    expect(mid.completed_at).toBeNull();
    expect(mid.tasks.find((t) => t.id === task!.id)).toMatchObject({ status: 'running', cancel_requested: true });
    expect(mid.tasks.find((t) => t.id !== task!.id)).toMatchObject({ status: 'cancelled', reason: 'cancelled' });
    expect((await solder.client.heartbeat(solder.id, {})).cancel_task_ids).toEqual([task!.id]);
    expect((await solder.client.reportTaskStatus(task!.id, { status: 'running' })).cancel_requested).toBe(true);

    const stopped = await solder.client.reportTaskStatus(task!.id, { status: 'cancelled', exit_code: 143 });
    expect(stopped.task).toMatchObject({ status: 'cancelled', reason: 'cancelled' });
    const done = await borg().admin.getJob(job.id);
    expect(done.status).toBe('cancelled');
    expect(done.completed_at).not.toBeNull();
    expect(done.tasks).toHaveLength(2); // attempts were left, but a cancelled job is not retried
    expect((await solder.client.heartbeat(solder.id, {})).cancel_task_ids).toEqual([]);
  });

  it('resolves a cancel racing two claims to exactly one outcome per task', async () => {
    const { submit, runner } = scope();
    const [a, b] = [await runner(2), await runner(2)];
    const outcomes = { claimedThenFlagged: 0, cancelledWhilePending: 0 };
    for (let i = 0; i < 25; i++) {
      const job = await submit({ array_size: 2, max_attempts: 2 });
      // Vary who starts first, from the cancel 2 ms ahead to the claims 2 ms ahead, so that
      // both orders and the overlaps in between are exercised.
      const lead = (i % 5) - 2;
      const [, fromA, fromB] = await Promise.all([
        after(Math.max(0, lead), () => borg().admin.cancelJob(job.id)),
        after(Math.max(0, -lead), () => claim(a, 2)),
        after(Math.max(0, -lead), () => claim(b, 2)),
      ]);
      const claimedBy = new Map([...fromA.map((t) => [t.id, a] as const), ...fromB.map((t) => [t.id, b] as const)]);

      const { tasks } = await borg().admin.getJob(job.id);
      expect(tasks).toHaveLength(2);
      for (const task of tasks) {
        const holder = claimedBy.get(task.id);
        if (holder) {
          // Claimed before the cancel committed: it is held and flagged, never left unflagged.
          expect(task).toMatchObject({ status: 'assigned', runner_id: holder.id, cancel_requested: true });
          outcomes.claimedThenFlagged++;
        } else {
          expect(task).toMatchObject({ status: 'cancelled', reason: 'cancelled', runner_id: null });
          outcomes.cancelledWhilePending++;
        }
      }
      // Holders hear of the cancel, stop, and the job ends cancelled with no new attempt.
      for (const holder of [a, b]) {
        const mine = [...claimedBy].filter(([, r]) => r === holder).map(([id]) => id);
        expect((await holder.client.heartbeat(holder.id, {})).cancel_task_ids.sort()).toEqual(mine.sort());
        for (const id of mine) await holder.client.reportTaskStatus(id, { status: 'cancelled' });
      }
      const done = await borg().admin.getJob(job.id);
      expect(done.status).toBe('cancelled');
      expect(done.tasks).toHaveLength(2);
    }
    expect(outcomes.claimedThenFlagged + outcomes.cancelledWhilePending).toBe(50);
    console.log(`cancel vs claim race [${ENGINE}]: 25 rounds, 50 tasks:`, outcomes);
  });

  it('starts no task of a paused job, lets running ones finish, and resume wakes a waiting runner', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 3 });
    const first = await runner(1);
    const [running] = await claim(first);
    await first.client.reportTaskStatus(running!.id, { status: 'running' });

    const paused = await borg().admin.pauseJob(job.id);
    expect(paused).toMatchObject({ status: 'paused', paused: true });
    const second = await runner(3);
    expect(await claim(second, 3)).toEqual([]);
    await first.client.reportTaskStatus(running!.id, { status: 'succeeded', exit_code: 0 });
    expect(await claim(first)).toEqual([]);
    expect((await borg().admin.getJob(job.id)).status).toBe('paused');

    const waiting = second.client.nextTasks(second.id, { wait: 30, max: 3 });
    // Parked: its own first read is over, so only the resume can hand it the tasks.
    await expect.poll(() => borg().services.dispatcher.parked, { timeout: 10_000 }).toBe(1);
    expect((await borg().admin.resumeJob(job.id)).paused).toBe(false);
    const woken = await waiting;
    expect(woken?.items.map((t) => t.index).sort()).toEqual([0, 1, 2].filter((i) => i !== running!.index));
    for (const task of woken!.items) {
      await second.client.reportTaskStatus(task.id, { status: 'running' });
      await second.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
    }
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
    await expect(borg().admin.pauseJob(job.id)).rejects.toMatchObject({ status: 409, code: 'ILLEGAL_TRANSITION' });
  });

  it('refuses to cancel a job that already succeeded (409) and leaves it succeeded', async () => {
    const { submit, runner } = scope();
    const job = await submit({ command: 'true' });
    const solder = await runner();
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });
    await solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 });
    await expect(borg().admin.cancelJob(job.id)).rejects.toMatchObject({ status: 409, code: 'ILLEGAL_TRANSITION' });
    const after = await borg().admin.getJob(job.id);
    expect(after.status).toBe('succeeded');
    expect(after.tasks[0]).toMatchObject({ status: 'succeeded', cancel_requested: false });
  });

  it('creates N tasks for array_size N, each told its BORG_TASK_INDEX', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 5 });
    expect((await borg().admin.getJob(job.id)).tasks.map((t) => [t.index, t.attempt, t.status])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [i, 1, 'pending']),
    );
    const items = await claim(await runner(5), 5);
    expect(items.map((t) => t.env.BORG_TASK_INDEX).sort()).toEqual(['0', '1', '2', '3', '4']);
    for (const task of items) {
      expect(task.env.BORG_TASK_INDEX).toBe(String(task.index));
      expect(task.env.BORG_ARRAY_SIZE).toBe('5');
    }
    await borg().admin.cancelJob(job.id);
  });

  it('hands out higher priority first, and in submission order within a priority', async () => {
    const { submit, runner } = scope();
    const order = [
      ['low-1', 0],
      ['high-1', 5],
      ['low-2', 0],
      ['high-2', 5],
      ['lowest', -1],
      ['low-3', 0],
    ] as const;
    const jobs = [];
    for (const [name, priority] of order) jobs.push(await submit({ name, priority }));
    const solder = await runner(order.length);
    const picked: string[] = [];
    for (let i = 0; i < order.length; i++) picked.push(...(await claim(solder, 1)).map((t) => t.job_name));
    expect(picked).toEqual(['high-1', 'high-2', 'low-1', 'low-2', 'low-3', 'lowest']);
    for (const job of jobs) await borg().admin.cancelJob(job.id);
  });

  it('gives a task only to runners that carry every label it requires', async () => {
    const { submit, runner } = scope();
    const job = await submit({ labels: { gpu: 'a100' } });
    const without = await runner(1);
    const otherValue = await runner(1, { gpu: 'v100' });
    const carrier = await runner(1, { gpu: 'a100', zone: 'eu' });
    expect(await claim(without)).toEqual([]);
    expect(await claim(otherValue)).toEqual([]);
    const [task] = await claim(carrier);
    expect(task?.job_id).toBe(job.id);
    expect(await claim(without)).toEqual([]);
    await borg().admin.cancelJob(job.id);
  });

  it('gives a draining runner nothing new, lets it finish what it has, and resume restores it', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 2 });
    const solder = await runner(2);
    const [held] = await claim(solder);
    await solder.client.reportTaskStatus(held!.id, { status: 'running' });

    expect((await borg().admin.drainRunner(solder.id)).status).toBe('draining');
    expect(await claim(solder)).toEqual([]);
    expect((await solder.client.heartbeat(solder.id, {})).draining).toBe(true);
    await solder.client.reportTaskStatus(held!.id, { status: 'succeeded', exit_code: 0 });
    expect(await claim(solder)).toEqual([]);

    expect((await borg().admin.resumeRunner(solder.id)).draining).toBe(false);
    expect((await solder.client.heartbeat(solder.id, {})).draining).toBe(false);
    const [next] = await claim(solder);
    expect(next).toMatchObject({ job_id: job.id, index: 1 - held!.index });
    await borg().admin.cancelJob(job.id);
  });
});
