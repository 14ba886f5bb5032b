import { performance } from 'node:perf_hooks';

import { describe, expect, it } from 'vitest';

import { ENGINE } from '../../../test/test-database.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * F16, the N × M variant: many runners claim over real HTTP at once. The claim must hand each
 * task to exactly one runner and never put a runner over its max_concurrent_tasks, which the
 * server enforces in the claim's own transaction (a runner asking for more gets at most its
 * free capacity).
 */

const RUNNERS = 50;
const JOBS = 4;
const TASKS_PER_JOB = 50;
const TASKS = JOBS * TASKS_PER_JOB;
const CAPACITY = 2;
/** Each claim asks for more than the runner's capacity, so the server's cap is what holds. */
const ASK = 3;

interface RunnerLog {
  runner: TestRunner;
  claimRequests: number;
  emptyAnswers: number;
  claimed: string[];
  /** The most tasks this runner held at once, counted from the server's answers. */
  peakHeld: number;
}

describe('50 runners racing for 200 tasks over HTTP', () => {
  const borg = useTestMothership();

  /** Tasks held per runner, straight from the database. */
  async function heldPerRunner(): Promise<Array<{ runner_id: string; n: number }>> {
    const { rows } = await borg().db.query<{ runner_id: string; n: number }>(
      `SELECT runner_id, count(*)::integer AS n FROM tasks
        WHERE status IN ('assigned', 'running') GROUP BY runner_id`,
    );
    return rows;
  }

  /**
   * A greedy runner. Empty-handed, it sends two claims at once, each asking for 3; holding a
   * task, it claims again asking for 3. Either way only the server's count of its free slots
   * (taken under the runner's row lock, in the claim's transaction) keeps it within capacity.
   * It finishes the oldest task it holds between claims, and stops when its claims come back
   * empty with nothing in hand.
   */
  async function work(log: RunnerLog): Promise<void> {
    const { client, id } = log.runner;
    const held: string[] = [];
    for (;;) {
      const claims = held.length === 0 ? 2 : 1;
      log.claimRequests += claims;
      const answers = await Promise.all(
        Array.from({ length: claims }, () => client.nextTasks(id, { wait: 0, max: ASK })),
      );
      log.emptyAnswers += answers.filter((a) => !a?.items.length).length;
      const items = answers.flatMap((a) => a?.items ?? []);
      for (const task of items) {
        expect(task.status).toBe('assigned');
        held.push(task.id);
        log.claimed.push(task.id);
      }
      log.peakHeld = Math.max(log.peakHeld, held.length);
      const oldest = held.shift();
      if (oldest === undefined) return; // nothing claimable and nothing in hand: done
      await client.reportTaskStatus(oldest, { status: 'running' });
      await client.reportTaskStatus(oldest, { status: 'succeeded', exit_code: 0 });
    }
  }

  it('claims every task exactly once, never over a runner’s capacity, and finishes them all', async () => {
    const { admin } = borg();
    const runners = await Promise.all(
      Array.from({ length: RUNNERS }, () => borg().registerRunner({ max_concurrent_tasks: CAPACITY })),
    );
    const jobs = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        admin.createJob({ name: `race-${i}`, type: 'shell', command: 'true', array_size: TASKS_PER_JOB }),
      ),
    );
    const logs: RunnerLog[] = runners.map((runner) => ({
      runner,
      claimRequests: 0,
      emptyAnswers: 0,
      claimed: [],
      peakHeld: 0,
    }));

    // While the runners race, sample the database's view of who holds what.
    let racing = true;
    let samples = 0;
    let peakInDatabase = 0;
    const sampler = (async () => {
      while (racing) {
        for (const { n } of await heldPerRunner()) peakInDatabase = Math.max(peakInDatabase, n);
        samples++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const started = performance.now();
    try {
      await Promise.all(logs.map(work));
    } finally {
      racing = false;
      await sampler;
    }
    const wallMs = performance.now() - started;

    // Exactly once: 200 claims handed out, 200 distinct tasks.
    const claimed = logs.flatMap((l) => l.claimed);
    expect(claimed).toHaveLength(TASKS);
    expect(new Set(claimed).size).toBe(TASKS);

    // Never over capacity, from the answers and from the database.
    for (const log of logs) expect(log.peakHeld).toBeLessThanOrEqual(CAPACITY);
    expect(samples).toBeGreaterThan(0);
    expect(peakInDatabase).toBeLessThanOrEqual(CAPACITY);
    // The cap was really exercised: runners did hold two tasks at once while asking for three.
    expect(Math.max(...logs.map((l) => l.peakHeld))).toBe(CAPACITY);

    // Everything finished, on the runner that claimed it, with no spurious attempt.
    const { rows } = await borg().db.query<{ id: string; status: string; attempt: number; runner_id: string }>(
      'SELECT id, status, attempt, runner_id FROM tasks WHERE job_id = ANY($1::uuid[])',
      [jobs.map((j) => j.id)],
    );
    expect(rows).toHaveLength(TASKS);
    expect(rows.every((r) => r.status === 'succeeded' && r.attempt === 1)).toBe(true);
    const claimer = new Map(logs.flatMap((l) => l.claimed.map((task) => [task, l.runner.id] as const)));
    for (const row of rows) expect(row.runner_id).toBe(claimer.get(row.id));
    expect(await heldPerRunner()).toEqual([]);
    for (const job of jobs) expect((await admin.getJob(job.id)).status).toBe('succeeded');

    const claimRequests = logs.reduce((sum, l) => sum + l.claimRequests, 0);
    const emptyAnswers = logs.reduce((sum, l) => sum + l.emptyAnswers, 0);
    console.log(
      `claim race [${ENGINE}]: ${RUNNERS} runners × ${TASKS} tasks (capacity ${CAPACITY}, asking ${ASK}): ` +
        `${claimRequests} claim requests (${claimRequests - emptyAnswers} with tasks, ${emptyAnswers} empty), ` +
        `${claimed.length} tasks claimed, ${(wallMs / 1000).toFixed(2)} s wall, ` +
        `${(TASKS / (wallMs / 1000)).toFixed(1)} tasks/s (claim + running + succeeded each), ` +
        `${samples} database samples, peak held per runner ${peakInDatabase}`,
    );
  }, 120_000); // generous: on a loaded machine the race is slow, and its speed is reported, not asserted
});
