import { randomUUID } from 'node:crypto';

import type { CreateJobRequest, JobWithTasks, Task } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { retryDelayMs } from '../src/jobs/retry-backoff.ts';

/**
 * max_attempts, the retry backoff, manual retry, and the server's timeout backstop (semantics 5,
 * F22, F24). The backoff is 1 s before a 2nd attempt (0.5–1 s with jitter); heartbeats are 1 s,
 * so the server's timeout grace is 1 s and the leader's start-up grace is 3 s. Assertions on
 * time use the database's clock and the times the API reports, never the test's own speed.
 */
const BASE_DELAY_MS = 1000;

describe('retry backoff (retry-backoff.ts)', () => {
  const policy = { baseMs: BASE_DELAY_MS, maxMs: 5000 };

  it('doubles per failed attempt, with at most half of it random, up to the cap', () => {
    expect(retryDelayMs(policy, 1, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1, () => 1)).toBe(1000);
    expect(retryDelayMs(policy, 2, () => 0)).toBe(1000);
    expect(retryDelayMs(policy, 3, () => 1)).toBe(4000);
    expect(retryDelayMs(policy, 10, () => 1)).toBe(5000);
    expect(retryDelayMs(policy, 10, () => 0)).toBe(2500);
  });
});

describe('retries and timeouts', () => {
  const borg = useTestMothership({ config: { retryBaseDelayMs: BASE_DELAY_MS, heartbeatIntervalSeconds: 1 } });
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
        borg().admin.createJob({ name: 'retry-test', type: 'shell', command: 'exit 1', ...job, labels }),
      runner: (capacity = 1) => borg().registerRunner({ max_concurrent_tasks: capacity, labels }),
    };
  }

  const tasksOf = async (jobId: string): Promise<Task[]> => (await borg().admin.getJob(jobId)).tasks;

  async function claimOne(runner: TestRunner) {
    const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 1 });
    expect(next?.items).toHaveLength(1);
    return next!.items[0]!;
  }

  const dbSays = async (sql: string, params: unknown[]): Promise<boolean> =>
    (await borg().db.query<{ ok: boolean }>(sql, params)).rows[0]?.ok === true;

  /** Waits until the database, on its own clock, answers `ok`. */
  const untilDatabaseSays = (what: string, sql: string, params: unknown[]) =>
    expect.poll(() => dbSays(sql, params), { timeout: 15_000, message: what }).toBe(true);

  /** Waits (database clock) until a pending task's backoff is over. */
  const untilAvailable = (taskId: string) =>
    untilDatabaseSays('the backoff to end', 'SELECT now() >= available_at AS ok FROM tasks WHERE id = $1', [taskId]);

  /** Waits (database clock) until a held task is past its deadline plus the 1 s grace. */
  const untilPastDeadlineAndGrace = (taskId: string) =>
    untilDatabaseSays(
      'the deadline and its grace to pass',
      "SELECT deadline_at < now() - interval '1 second' AS ok FROM tasks WHERE id = $1",
      [taskId],
    );

  /** Makes this mothership the maintenance leader and waits out its start-up grace. */
  async function leaderOutOfGrace(): Promise<void> {
    await borg().tick();
    await expect.poll(() => borg().mothership.maintenance.inGracePeriod(), { timeout: 15_000 }).toBe(false);
  }

  const ms = (iso: string | null) => Date.parse(iso!);

  it('keeps a failed attempt unchanged and adds attempt + 1 as a new row, claimable only after its backoff', async () => {
    const { submit, runner } = scope();
    const job = await submit({ max_attempts: 3 });
    const solder = await runner();
    const first = await claimOne(solder);
    await solder.client.reportTaskStatus(first.id, { status: 'running' });
    await solder.client.appendTaskLogs(first.id, { seq: 0, lines: [{ stream: 'stderr', message: 'boom' }] });
    const failed = (await solder.client.reportTaskStatus(first.id, { status: 'failed', exit_code: 2 })).task;
    // At once (the backoff is at least 0.5 s): the next attempt is not claimable yet.
    expect(await solder.client.nextTasks(solder.id, { wait: 0, max: 1 })).toBeNull();

    const tasks = await tasksOf(job.id);
    expect(tasks).toHaveLength(2);
    expect(tasks[0]).toEqual(failed);
    expect(tasks[0]).toMatchObject({ attempt: 1, status: 'failed', exit_code: 2, runner_id: solder.id });
    const retry = tasks[1]!;
    expect(retry).toMatchObject({ index: 0, attempt: 2, status: 'pending', runner_id: null, exit_code: null });
    expect((await borg().admin.getJob(job.id)).status).toBe('running');
    expect((await borg().admin.getTaskLogs(first.id)).items.map((l) => l.message)).toEqual(['boom']);

    // Backoff for a 2nd attempt: between half and all of the 1 s base, on the database's clock.
    const backoff = ms(retry.available_at) - ms(failed.completed_at);
    expect(backoff).toBeGreaterThanOrEqual(BASE_DELAY_MS / 2 - 1);
    expect(backoff).toBeLessThanOrEqual(BASE_DELAY_MS + 1);

    // After available_at (database clock) it is.
    await untilAvailable(retry.id);
    const second = await claimOne(solder);
    expect(second).toMatchObject({ id: retry.id, attempt: 2, index: 0 });
    expect(second.env.BORG_ATTEMPT).toBe('2');
    expect((await tasksOf(job.id))[0]).toEqual(failed);
    await solder.client.reportTaskStatus(second.id, { status: 'running' });
    await solder.client.reportTaskStatus(second.id, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('fails the job once max_attempts attempts have failed; a timeout counts as a failure', async () => {
    const { submit, runner } = scope();
    const job = await submit({ max_attempts: 2 });
    const solder = await runner();
    const first = await claimOne(solder);
    await solder.client.reportTaskStatus(first.id, { status: 'running' });
    const timedOut = await solder.client.reportTaskStatus(first.id, { status: 'timed_out' });
    expect(timedOut.task).toMatchObject({ status: 'timed_out', reason: 'timed_out' });

    const retry = (await tasksOf(job.id))[1]!;
    expect(retry).toMatchObject({ attempt: 2, status: 'pending' });
    await untilAvailable(retry.id);
    const second = await claimOne(solder);
    await solder.client.reportTaskStatus(second.id, { status: 'running' });
    await solder.client.reportTaskStatus(second.id, { status: 'failed', exit_code: 1 });

    const done = await borg().admin.getJob(job.id);
    expect(done.status).toBe('failed');
    expect(done.completed_at).not.toBeNull();
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'timed_out'],
      [2, 'failed'],
    ]);
    expect(await solder.client.nextTasks(solder.id, { wait: 0, max: 1 })).toBeNull();
  });

  it('wakes a waiting runner through the retry clock when a backoff ends', async () => {
    const { submit, runner } = scope();
    await borg().tick(); // the retry clock's first round: it announces what becomes claimable after this
    const job = await submit({ max_attempts: 2 });
    const [failing, waiter] = [await runner(), await runner()];
    const first = await claimOne(failing);

    // The other runner is already waiting when the attempt fails; the retry is not claimable
    // yet, so nothing wakes it until a maintenance round sees the backoff over.
    const waiting = waiter.client.nextTasks(waiter.id, { wait: 20, max: 1 });
    await expect.poll(() => borg().services.dispatcher.parked, { timeout: 15_000 }).toBe(1);
    await failing.client.reportTaskStatus(first.id, { status: 'failed', exit_code: 1 });
    const retry = (await tasksOf(job.id))[1]!;
    await untilAvailable(retry.id);
    expect(borg().services.dispatcher.waiting).toBe(1);
    await borg().tick();
    const woken = await waiting;
    expect(woken?.items.map((t) => t.id)).toEqual([retry.id]);
    await waiter.client.reportTaskStatus(retry.id, { status: 'failed', exit_code: 1 });
  });

  it('retries a failed job by hand: a new attempt for each element that did not succeed', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 3 });
    const solder = await runner(3);
    const claimed = (await solder.client.nextTasks(solder.id, { wait: 0, max: 3 }))!.items;
    const ending = ['succeeded', 'failed', 'timed_out'] as const;
    for (const task of claimed) {
      await solder.client.reportTaskStatus(task.id, { status: 'running' });
      await solder.client.reportTaskStatus(task.id, { status: ending[task.index]!, exit_code: task.index });
    }
    expect((await borg().admin.getJob(job.id)).status).toBe('failed');

    const retried = await borg().admin.retryJob(job.id);
    expect(retried.completed_at).toBeNull();
    expect(['queued', 'running']).toContain(retried.status);
    const attempts = (await tasksOf(job.id)).map((t) => [t.index, t.attempt, t.status]);
    expect(attempts).toEqual([
      [0, 1, 'succeeded'],
      [1, 1, 'failed'],
      [1, 2, 'pending'],
      [2, 1, 'timed_out'],
      [2, 2, 'pending'],
    ]);
    await expect(borg().admin.retryJob(job.id)).rejects.toMatchObject({ status: 409, code: 'ILLEGAL_TRANSITION' });

    // A manual retry is claimable at once (no backoff), and a success ends the job.
    const again = (await solder.client.nextTasks(solder.id, { wait: 0, max: 3 }))!.items;
    expect(again.map((t) => [t.index, t.attempt]).sort()).toEqual([
      [1, 2],
      [2, 2],
    ]);
    for (const task of again) {
      await solder.client.reportTaskStatus(task.id, { status: 'running' });
      await solder.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
    }
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
    await expect(borg().admin.retryJob(job.id)).rejects.toMatchObject({ status: 409, code: 'ILLEGAL_TRANSITION' });
  });

  it('retries a cancelled job by hand, and the new attempts are not cancelled', async () => {
    const { submit, runner } = scope();
    const job = await submit({ command: 'true' });
    await borg().admin.cancelJob(job.id);
    expect((await borg().admin.getJob(job.id)).status).toBe('cancelled');
    await borg().admin.retryJob(job.id);
    const solder = await runner();
    const task = await claimOne(solder);
    expect(task.attempt).toBe(2);
    const running = await solder.client.reportTaskStatus(task.id, { status: 'running' });
    expect(running.cancel_requested).toBe(false);
    await solder.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('times out a task its runner does not stop (server backstop), and retries it while attempts remain', async () => {
    const { submit, runner } = scope();
    const job = await submit({ command: 'sleep 600', timeout_seconds: 1, max_attempts: 2 });
    const solder = await runner();
    await leaderOutOfGrace();

    /** One attempt that runs and is never stopped by its (heartbeating) runner. */
    const runPastDeadline = async (): Promise<Task> => {
      const task = await claimOne(solder);
      await solder.client.reportTaskStatus(task.id, { status: 'running' });
      await borg().tick();
      expect((await tasksOf(job.id)).find((t) => t.id === task.id)?.status).toBe('running');
      await untilPastDeadlineAndGrace(task.id);
      await solder.client.heartbeat(solder.id, { task_ids: [task.id] }); // alive: only the timeout applies
      await borg().tick();
      return (await tasksOf(job.id)).find((t) => t.id === task.id)!;
    };

    const first = await runPastDeadline();
    expect(first).toMatchObject({ attempt: 1, status: 'timed_out', reason: 'server_timeout' });
    let job1: JobWithTasks = await borg().admin.getJob(job.id);
    expect(job1.status).toBe('running');
    expect(job1.tasks[1]).toMatchObject({ attempt: 2, status: 'pending' });

    // The runner hears of it and nothing it says about that attempt counts any more.
    const beat = await solder.client.heartbeat(solder.id, { task_ids: [first.id] });
    expect(beat.abandon_task_ids).toEqual([first.id]);
    await expect(solder.client.reportTaskStatus(first.id, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject(
      {
        status: 409,
        code: 'STALE_TASK',
      },
    );
    await expect(
      solder.client.appendTaskLogs(first.id, { seq: 0, lines: [{ stream: 'stdout', message: 'late' }] }),
    ).rejects.toMatchObject({ status: 409, code: 'STALE_TASK' });
    expect((await tasksOf(job.id))[0]).toEqual(first);

    // The last attempt times out too: no third one, and the job fails.
    await untilAvailable(job1.tasks[1]!.id);
    const second = await runPastDeadline();
    expect(second).toMatchObject({ attempt: 2, status: 'timed_out', reason: 'server_timeout' });
    job1 = await borg().admin.getJob(job.id);
    expect(job1.tasks).toHaveLength(2);
    expect(job1.status).toBe('failed');
  });
});
