import { randomUUID } from 'node:crypto';
import { get as httpGet } from 'node:http';

import type { NextTasksResponse } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { FaultyDatabase } from '../../../test/reliability/harness/faulty-database.ts';
import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Semantics 3 (fast dispatch): an idle runner long-polls `GET /runners/:id/tasks/next?wait=…`
 * and the mothership answers the moment a task it can take becomes claimable, or 204 when the
 * wait ends with nothing. Every test uses its own label, so runners and jobs of one test never
 * meet those of another on the shared mothership.
 */

const WAIT_SECONDS = 10;
const WAIT_MS = WAIT_SECONDS * 1000;

/** A long-poll whose progress the test can look at while it is still open. */
interface Poll {
  settled: boolean;
  result: Promise<NextTasksResponse | null>;
  /** performance.now() when the answer arrived. */
  settledAt: number;
}

/** Polling often: these tests time how soon an answer comes. */
const SOON = { timeout: 5_000, interval: 10 };

describe('long-polling for tasks', () => {
  let database!: FaultyDatabase;
  const borg = useTestMothership({ wrap: { wrapDatabase: (db) => (database = new FaultyDatabase(db)) } });

  /** Labels that only this test's runners and jobs carry. */
  const isolated = (extra: Record<string, string> = {}) => ({ suite: randomUUID(), ...extra });

  /**
   * Starts a long-poll and returns once the server holds it parked: its own first read and
   * claim are over, so only a wake-up can answer it now.
   */
  async function park(
    runner: TestRunner,
    options: { wait: number; max?: number; signal?: AbortSignal },
  ): Promise<Poll> {
    const before = borg().services.dispatcher.parked;
    const poll: Poll = { settled: false, settledAt: 0, result: Promise.resolve(null) };
    const { signal, ...query } = options;
    poll.result = runner.client.nextTasks(runner.id, query, { signal }).finally(() => {
      poll.settled = true;
      poll.settledAt = performance.now();
    });
    poll.result.catch(() => undefined); // observed by the test; never an unhandled rejection
    const parked = () => borg().services.dispatcher.parked > before || poll.settled;
    await expect.poll(parked, { ...SOON, message: 'the long-poll to be parked' }).toBe(true);
    return poll;
  }

  it('hands a task to a waiting runner soon after the submit, long before its wait ends', async () => {
    const labels = isolated();
    const runner = await borg().registerRunner({ labels });
    const poll = await park(runner, { wait: WAIT_SECONDS });
    expect(poll.settled).toBe(false);

    const submittedAt = performance.now();
    const job = await borg().admin.createJob({ name: 'wake', type: 'shell', command: 'true', labels });
    const next = await poll.result;

    expect(next?.items.map((t) => t.job_id)).toEqual([job.id]);
    expect(poll.settledAt - submittedAt).toBeLessThan(WAIT_MS / 4);
  });

  it('answers 204 at once for wait=0 when there is nothing, and the client returns null', async () => {
    const runner = await borg().registerRunner({ labels: isolated() });
    const raw = await rawRequest(borg().url, {
      path: `/api/v1/runners/${runner.id}/tasks/next?wait=0`,
      token: runner.token,
    });
    expect(raw.status).toBe(204);
    expect(await runner.client.nextTasks(runner.id, { wait: 0 })).toBeNull();
  });

  it('answers 204 when a wait ends with nothing, and not before the wait is over', async () => {
    const runner = await borg().registerRunner({ labels: isolated() });
    const started = performance.now();
    const raw = await rawRequest(borg().url, {
      path: `/api/v1/runners/${runner.id}/tasks/next?wait=1`,
      token: runner.token,
    });
    expect(raw.status).toBe(204);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000 - 50);
  });

  it('wakes a listening runner (max=0) when a task it runs is cancelled, naming the task', async () => {
    const labels = isolated();
    const runner = await borg().registerRunner({ labels });
    const job = await borg().admin.createJob({ name: 'to-cancel', type: 'shell', command: 'sleep 100', labels });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });

    const poll = await park(runner, { wait: WAIT_SECONDS, max: 0 });
    expect(poll.settled).toBe(false);
    const cancelledAt = performance.now();
    await borg().admin.cancelJob(job.id);
    const next = await poll.result;

    expect(next).not.toBeNull();
    expect(next!.items).toEqual([]);
    expect(next!.cancel_task_ids).toContain(task.id);
    expect(poll.settledAt - cancelledAt).toBeLessThan(WAIT_MS / 4);
  });

  it('does not wake a runner for a task needing labels it lacks, but does for one it can take', async () => {
    const suite = isolated();
    const runner = await borg().registerRunner({ labels: { ...suite, gpu: 'no' } });

    const waitSeconds = 2;
    const startedAt = performance.now();
    const poll = await park(runner, { wait: waitSeconds });
    const gpuJob = await borg().admin.createJob({
      name: 'gpu',
      type: 'shell',
      command: 'true',
      labels: { ...suite, gpu: 'yes' },
    });
    expect(await poll.result).toBeNull();
    expect(poll.settledAt - startedAt).toBeGreaterThanOrEqual(waitSeconds * 1000 - 50);
    expect((await borg().admin.getJob(gpuJob.id)).tasks.map((t) => t.status)).toEqual(['pending']);

    const again = await park(runner, { wait: WAIT_SECONDS });
    const cpuJob = await borg().admin.createJob({
      name: 'cpu',
      type: 'shell',
      command: 'true',
      labels: { ...suite, gpu: 'no' },
    });
    const next = await again.result;
    expect(next?.items.map((t) => t.job_id)).toEqual([cpuJob.id]);

    await borg().admin.cancelJob(gpuJob.id); // leave nothing claimable behind
  });

  it('wakes a waiting runner when a paused job is resumed', async () => {
    const labels = isolated();
    const job = await borg().admin.createJob({ name: 'paused', type: 'shell', command: 'true', labels });
    await borg().admin.pauseJob(job.id);
    const runner = await borg().registerRunner({ labels });

    const poll = await park(runner, { wait: WAIT_SECONDS });
    expect(poll.settled).toBe(false); // a paused job's task is not claimable
    const resumedAt = performance.now();
    await borg().admin.resumeJob(job.id);
    const next = await poll.result;

    expect(next?.items.map((t) => t.job_id)).toEqual([job.id]);
    expect(poll.settledAt - resumedAt).toBeLessThan(WAIT_MS / 4);
  });

  it('wakes a waiting runner when a failed job is retried, with the next attempt', async () => {
    const labels = isolated();
    const runner = await borg().registerRunner({ labels });
    const job = await borg().admin.createJob({ name: 'flaky', type: 'shell', command: 'false', labels });
    const first = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(first.id, { status: 'running' });
    await runner.client.reportTaskStatus(first.id, { status: 'failed', exit_code: 1 });
    expect((await borg().admin.getJob(job.id)).status).toBe('failed');

    const poll = await park(runner, { wait: WAIT_SECONDS });
    expect(poll.settled).toBe(false);
    const retriedAt = performance.now();
    await borg().admin.retryJob(job.id);
    const next = await poll.result;

    expect(next?.items).toHaveLength(1);
    expect(next!.items[0]).toMatchObject({ job_id: job.id, index: 0, attempt: 2 });
    expect(poll.settledAt - retriedAt).toBeLessThan(WAIT_MS / 4);
  });

  it('does not let a runner that hung up during its long-poll keep a task', async () => {
    const labels = isolated();
    const leaver = await borg().registerRunner({ labels });
    const stayer = await borg().registerRunner({ labels });

    const hangUp = new AbortController();
    const poll = await park(leaver, { wait: WAIT_SECONDS, signal: hangUp.signal });
    const parked = borg().services.dispatcher.waiting;
    hangUp.abort();
    await expect(poll.result).rejects.toThrow();
    // The server notices the closed connection and stops holding a place for the runner.
    await expect.poll(() => borg().services.dispatcher.waiting, SOON).toBeLessThan(parked);

    const job = await borg().admin.createJob({ name: 'after-hang-up', type: 'shell', command: 'true', labels });
    const next = await stayer.client.nextTasks(stayer.id, { wait: WAIT_SECONDS });
    expect(next?.items.map((t) => t.job_id)).toEqual([job.id]);

    const tasks = (await borg().admin.getJob(job.id)).tasks;
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'assigned', runner_id: stayer.id });
    expect((await borg().admin.getRunner(leaver.id)).active_tasks).toBe(0);
  });

  it('does not park a runner that hung up before its long-poll was handled (while its token was checked)', async () => {
    const labels = isolated();
    const leaver = await borg().registerRunner({ labels });
    const stayer = await borg().registerRunner({ labels });
    const server = borg().mothership.app.server;
    const connections = () => new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
    const before = borg().services.dispatcher.waiting;

    // Hold the token table so the leaver's (never used, so uncached) token check waits.
    let unlock!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = borg().db.transaction(async (tx) => {
      await tx.query('LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE');
      locked();
      await new Promise<void>((resolve) => (unlock = resolve));
    });
    await isLocked;
    try {
      const open = await connections();
      const request = httpGet(`${borg().url}/api/v1/runners/${leaver.id}/tasks/next?wait=${WAIT_SECONDS}`, {
        agent: false,
        headers: { authorization: `Bearer ${leaver.token}` },
      });
      request.on('error', () => undefined);
      // The token's lookup is sent, and waits for the lock.
      await expect.poll(() => database.inFlight(/FROM api_tokens/), SOON).toBe(1);
      request.destroy(); // the runner hangs up while the server is still checking its token
      await expect.poll(connections, SOON).toBe(open);
    } finally {
      unlock();
      await holding;
    }

    // Once the lookup is answered the rest of the request runs without waiting on anything, so
    // a wrongly parked long-poll would show up at once.
    await expect.poll(() => database.inFlight(/FROM api_tokens/), SOON).toBe(0);
    expect(borg().services.dispatcher.waiting).toBe(before);
    const job = await borg().admin.createJob({ name: 'after-early-hang-up', type: 'shell', command: 'true', labels });
    const next = await stayer.client.nextTasks(stayer.id, { wait: WAIT_SECONDS });
    expect(next?.items.map((t) => t.job_id)).toEqual([job.id]);
    expect((await borg().admin.getRunner(leaver.id)).active_tasks).toBe(0);
  });

  it('gives 3 submitted jobs to exactly 3 of 10 waiting runners; the other 7 get 204', async () => {
    const labels = isolated();
    const runners = await Promise.all(Array.from({ length: 10 }, () => borg().registerRunner({ labels })));
    const waitSeconds = 4;
    const before = borg().services.dispatcher.parked;
    const startedAt = performance.now();
    const polls = runners.map((r) => r.client.nextTasks(r.id, { wait: waitSeconds }));
    await expect.poll(() => borg().services.dispatcher.parked, SOON).toBe(before + 10);

    const jobs = await Promise.all(
      [1, 2, 3].map((n) => borg().admin.createJob({ name: `crowd-${n}`, type: 'shell', command: 'true', labels })),
    );
    const answers = await Promise.all(polls);

    const served = answers.filter((a) => a !== null);
    expect(served).toHaveLength(3);
    expect(answers.filter((a) => a === null)).toHaveLength(7);
    const claimedJobs = served.flatMap((a) => a!.items.map((t) => t.job_id));
    expect(claimedJobs.sort()).toEqual(jobs.map((j) => j.id).sort());
    // The empty-handed ones waited their full wait.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(waitSeconds * 1000 - 50);
  });
});
