import { randomUUID } from 'node:crypto';

import { BorgApiError } from '@borg/protocol';
import { afterAll, describe, expect, it } from 'vitest';

import { ENGINE } from '../../../test/test-database.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

/**
 * max_parallel holds across runners: the number of a job's elements held (assigned or running)
 * at once, sampled from the database while real solders run it, never exceeds the limit, and
 * reaches it; raising the limit mid-run takes effect at the next claim. Runners that claim at the
 * same moment cannot exceed it together (the claim's per-job lock and recount, migration 0017).
 */

/** Samples a job's held count from the database until stopped: the highest seen, per phase. */
function heldSampler(
  db: () => { query: <R>(sql: string, params: unknown[]) => Promise<{ rows: R[] }> },
  jobId: string,
) {
  let running = true;
  let samples = 0;
  let current = 0;
  let peak = 0;
  const loop = (async () => {
    while (running) {
      const { rows } = await db().query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running')`,
        [jobId],
      );
      current = rows[0]!.n;
      peak = Math.max(peak, current);
      samples++;
      // Paces the sampler so it does not crowd out the mothership's own queries (not a wait for a condition).
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    get current() {
      return current;
    },
    get samples() {
      return samples;
    },
    /** The highest count seen since the last call, and a fresh start for the next phase. */
    takePeak(): number {
      const seen = peak;
      peak = current;
      return seen;
    },
    async stop(): Promise<void> {
      running = false;
      await loop;
    },
  };
}

describe('max_parallel under load', () => {
  const borg = useTestMothership();

  async function cancelRetryingConflicts(jobId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await borg().admin.cancelJob(jobId);
        return;
      } catch (error) {
        if (attempt >= 5 || !(error instanceof BorgApiError && error.code === 'DATABASE_CONFLICT')) throw error;
      }
    }
  }
  const solders: InProcessSolder[] = [];
  afterAll(async () => {
    await Promise.all(solders.map((s) => s.stop({ cancelRunning: true })));
  });

  it('never holds more than max_parallel of a 1,000-element array across four solders, and a raise takes effect at the next claim', async () => {
    const labels = { scope: randomUUID() };
    for (let i = 0; i < 4; i++) solders.push(await startSolder(borg(), { maxConcurrentTasks: 4, labels }));
    const job = await borg().admin.createJob({
      name: 'limited-array',
      type: 'shell',
      command: 'sleep 0.02',
      array_size: 1000,
      max_parallel: 5,
      labels,
    });
    const held = heldSampler(() => borg().db, job.id);
    const succeeded = async () => {
      const { rows } = await borg().db.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1 AND status = 'succeeded'`,
        [job.id],
      );
      return rows[0]!.n;
    };
    try {
      // Phase 1: at 5 while the first 150 elements run.
      await expect.poll(succeeded, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(150);
      const peakAtFive = held.takePeak();
      expect(peakAtFive).toBeLessThanOrEqual(5);
      expect(peakAtFive).toBe(5);

      // Phase 2: raised to 20 (the four solders have 16 slots): more than 5 are held soon after,
      // and never more than the slots while the next 150 run.
      await borg().admin.updateJob(job.id, { max_parallel: 20 });
      await expect.poll(() => held.current, { timeout: 30_000, interval: 20 }).toBeGreaterThan(5);
      await expect.poll(succeeded, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(300);
      expect(held.takePeak()).toBeLessThanOrEqual(16);
    } finally {
      await held.stop();
    }
    // The rest is not needed: cancelled, the job ends, and no element ran twice. On PostgreSQL
    // the cancel can deadlock with the four solders' claims and reports on the same rows; the
    // database rolls one back and the API answers 503 DATABASE_CONFLICT, "retry it", as here.
    await cancelRetryingConflicts(job.id);
    await expect
      .poll(async () => (await borg().admin.getJob(job.id)).status, { timeout: 60_000, interval: 200 })
      .toBe('cancelled');
    const { rows } = await borg().db.query<{ n: number; retried: number }>(
      `SELECT count(*)::integer AS n, count(*) FILTER (WHERE attempt > 1)::integer AS retried FROM tasks WHERE job_id = $1`,
      [job.id],
    );
    expect(rows[0]).toEqual({ n: 1000, retried: 0 });
    // Their long-polls would count among the next test's parked runners.
    await Promise.all(solders.splice(0).map((s) => s.stop()));
    console.log(`max_parallel [${ENGINE}]: 300 of 1,000 elements run, ${held.samples} samples of the held count`);
  }, 300_000);

  it('starts as many elements as the limit allows when its runners are woken together', async () => {
    const labels = { scope: randomUUID() };
    const runners = await Promise.all(
      Array.from({ length: 6 }, () => borg().registerRunner({ max_concurrent_tasks: 1, labels })),
    );
    const answered: Array<number | undefined> = [];
    for (const r of runners) {
      void r.client.nextTasks(r.id, { wait: 30, max: 1 }).then((answer) => answered.push(answer?.items.length));
    }
    await expect.poll(() => borg().services.dispatcher.parked, { timeout: 10_000 }).toBe(6);
    // One submit wakes them together; the claims queue for the job's lock in turn, and each of
    // five gets one element (skipping a job locked by another claim would have started one).
    const job = await borg().admin.createJob({
      name: 'burst',
      type: 'shell',
      command: 'true',
      array_size: 100,
      max_parallel: 5,
      labels,
    });
    await expect.poll(() => answered.length, { timeout: 10_000 }).toBe(5);
    expect(answered).toEqual([1, 1, 1, 1, 1]);
    expect(await heldOf(job.id)).toBe(5);
    await borg().admin.cancelJob(job.id);
  });

  async function heldOf(jobId: string): Promise<number> {
    const { rows } = await borg().db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running')`,
      [jobId],
    );
    return rows[0]!.n;
  }

  it('lets runners claiming at the same moment take no more than the limit together', async () => {
    const labels = { scope: randomUUID() };
    const limited = await borg().admin.createJob({
      name: 'limited',
      type: 'shell',
      command: 'true',
      array_size: 70,
      max_parallel: 7,
      labels,
    });
    // An unlimited job behind it: the claims merge its tasks into the same walk.
    const free = await borg().admin.createJob({ name: 'free', type: 'shell', command: 'true', array_size: 40, labels });
    const runners: TestRunner[] = await Promise.all(
      Array.from({ length: 12 }, () => borg().registerRunner({ max_concurrent_tasks: 3, labels })),
    );
    const held = heldSampler(() => borg().db, limited.id);
    const heldPerRound: number[] = [];
    try {
      for (let round = 0; ; round++) {
        // Every runner claims at once; then each finishes what it got.
        const answers = await Promise.all(runners.map((r) => r.client.nextTasks(r.id, { wait: 0, max: 3 })));
        const { rows } = await borg().db.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1 AND status IN ('assigned', 'running')`,
          [limited.id],
        );
        heldPerRound.push(rows[0]!.n);
        const claimed = answers.flatMap((answer, i) =>
          (answer?.items ?? []).map((task) => ({ task, runner: runners[i]! })),
        );
        if (claimed.length === 0) break;
        await Promise.all(
          claimed.map(async ({ task, runner }) => {
            await runner.client.reportTaskStatus(task.id, { status: 'running' });
            await runner.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
          }),
        );
      }
    } finally {
      await held.stop();
    }
    // Ten rounds of exactly seven for the 70 limited elements, then nothing held.
    expect(heldPerRound.slice(0, 10)).toEqual(Array(10).fill(7));
    expect(heldPerRound.slice(10).every((n) => n === 0)).toBe(true);
    expect(held.takePeak()).toBeLessThanOrEqual(7);
    for (const job of [limited, free]) expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  }, 120_000);
});
