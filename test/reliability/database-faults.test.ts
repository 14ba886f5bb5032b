import { randomUUID } from 'node:crypto';

import type { BorgApiError, Job, JobWithTasks } from '@borg/protocol';
import { afterAll, describe, expect, it } from 'vitest';

import { type TestRunner, useTestMothership } from '../test-mothership.ts';
import { eventually, type InProcessSolder, startSolder } from '../test-solder.ts';
import { FAULTS, FaultyDatabase } from './harness/faulty-database.ts';
import { InvariantChecker } from './harness/invariants.ts';

/**
 * Database faults on either engine, injected through a wrapper around the mothership's
 * Database (F11 and F12 of the plan, fast variants; the real PostgreSQL restarts, backend
 * kills and freezes are in postgres.chaos.ts): an outage answers 503 + Retry-After and writes
 * nothing, a connection lost before COMMIT rolls the whole change back, a serialization
 * failure or deadlock is a 503 to retry rather than a 500, and solders ride through faults
 * sprinkled over every statement without losing a task or a log line.
 */
describe('database faults (F11, F12 fast variants)', () => {
  let faulty!: FaultyDatabase;
  const borg = useTestMothership({
    config: { heartbeatIntervalSeconds: 1 },
    wrap: { wrapDatabase: (db) => (faulty = new FaultyDatabase(db)) },
  });
  const solders: InProcessSolder[] = [];
  afterAll(async () => {
    faulty.clear();
    for (const solder of solders) await solder.stop({ cancelRunning: true });
  });
  const checker = new InvariantChecker(() => borg().db);

  function scope() {
    const labels = { scope: randomUUID() };
    return {
      labels,
      submit: (command = 'sleep 600', extra: Record<string, unknown> = {}) =>
        borg().admin.createJob({ name: 'db-faults', type: 'shell', command, labels, ...extra }),
      runner: () => borg().registerRunner({ labels, max_concurrent_tasks: 1 }),
    };
  }
  const claim = async (runner: TestRunner) => (await runner.client.nextTasks(runner.id, { wait: 0 }))?.items ?? [];

  /** Ticks maintenance until the reaper's grace period after an earlier failure is over. */
  async function graceOver(): Promise<void> {
    const maintenance = borg().mothership.maintenance;
    await eventually(
      async () => {
        await borg().tick();
        return !maintenance.inGracePeriod();
      },
      15_000,
      'the grace period to end',
    );
  }

  async function expect503(call: Promise<unknown>): Promise<void> {
    const error = (await call.then(
      () => undefined,
      (e: unknown) => e,
    )) as BorgApiError | undefined;
    expect(error, 'the call should have failed').toBeDefined();
    expect(error).toMatchObject({ status: 503 });
  }

  it('an outage answers 503 with Retry-After on every route, writes nothing, and ends without a restart', async () => {
    const { submit, runner } = scope();
    const job = await submit('sleep 600', { max_attempts: 2 });
    const solder = await runner();
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });
    const before = await borg().admin.getJob(job.id);

    const end = faulty.outage(FAULTS.connectionReset);
    const raw = await fetch(`${borg().url}/api/v1/runners/${solder.id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${solder.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task_ids: [task!.id] }),
    });
    expect(raw.status).toBe(503);
    expect(raw.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('DATABASE_UNAVAILABLE');
    await expect503(solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 }));
    await expect503(solder.client.appendTaskLogs(task!.id, { seq: 0, lines: [{ stream: 'stdout', message: 'x' }] }));
    await expect503(borg().admin.createJob({ name: 'during', type: 'shell', command: 'true' }));
    await expect503(borg().admin.cancelJob(job.id));
    // The reaper stands down: after a database failure every runner gets a full window again.
    await borg().tick();
    expect(borg().mothership.maintenance.inGracePeriod()).toBe(true);
    end();

    expect(await borg().admin.getJob(job.id)).toEqual(before);
    expect((await borg().admin.getTaskLogs(task!.id)).items).toEqual([]);
    await solder.client.appendTaskLogs(task!.id, { seq: 0, lines: [{ stream: 'stdout', message: 'x' }] });
    await solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
    expect(await checker.check()).toEqual([]);
  });

  // The claim is one statement (borg_claim) that commits by itself; a backend terminated in the
  // middle of it is in postgres.chaos.ts. Here the connection goes as the claim is sent.
  it('a connection lost on the claim leaves the task pending, and it is claimed once (F12)', async () => {
    const { submit, runner } = scope();
    const job = await submit();
    const first = await runner();
    const second = await runner();
    const end = faulty.inject((sql) => (/borg_claim/.test(sql) ? FAULTS.adminShutdown() : undefined));
    await expect503(first.client.nextTasks(first.id, { wait: 0 }));
    end();
    expect((await borg().admin.getJob(job.id)).tasks).toMatchObject([{ status: 'pending', runner_id: null }]);

    const claimed = [...(await claim(second)), ...(await claim(first))];
    expect(claimed.map((t) => t.job_id)).toEqual([job.id]);
    expect((await borg().admin.getJob(job.id)).tasks).toMatchObject([{ status: 'assigned', runner_id: second.id }]);
    await borg().admin.cancelJob(job.id);
    expect(await checker.check()).toEqual([]);
  });

  it('a connection lost before COMMIT of a completion rolls it back whole; the retried report lands once', async () => {
    const { submit, runner } = scope();
    const job = await submit('true', { max_attempts: 3 });
    const solder = await runner();
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });
    // The task row is updated, then the connection drops before the job's status is refreshed.
    const end = faulty.inject(
      (sql, { inTransaction }) =>
        inTransaction && /UPDATE tasks t SET status = \$2/.test(sql) ? FAULTS.connectionReset() : undefined,
      { afterStatement: true },
    );
    await expect503(solder.client.reportTaskStatus(task!.id, { status: 'failed', exit_code: 3 }));
    end();
    const after = await borg().admin.getJob(job.id);
    expect(after.tasks).toMatchObject([{ id: task!.id, status: 'running' }]); // no retry row, no half-ending
    await solder.client.reportTaskStatus(task!.id, { status: 'failed', exit_code: 3 });
    await solder.client.reportTaskStatus(task!.id, { status: 'failed', exit_code: 3 }); // a duplicate after a lost answer
    const tasks = (await borg().admin.getJob(job.id)).tasks;
    expect(tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'failed'],
      [2, 'pending'],
    ]);
    await borg().admin.cancelJob(job.id);
    expect(await checker.check()).toEqual([]);
  });

  it('a job whose status update after its last success was lost is still ended, by maintenance', async () => {
    const { submit, runner } = scope();
    const job = await submit('true');
    const solder = await runner();
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });
    // The success commits; the job's refresh that follows it fails.
    const end = faulty.failAfter(0, FAULTS.connectionReset, {
      pattern: /^SELECT j\.id FROM unnest\(\$1::uuid\[\]\) AS j\(id\)/,
    });
    await expect503(solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 }));
    end();
    await solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 }); // the solder's retry
    expect((await borg().admin.getJob(job.id)).tasks[0]!.status).toBe('succeeded');

    const ended = await eventually(
      async () => {
        await borg().tick();
        const seen = await borg().admin.getJob(job.id);
        return seen.completed_at ? seen : undefined;
      },
      15_000,
      'maintenance to end the job',
    );
    expect(ended.status).toBe('succeeded');
    expect(await checker.check()).toEqual([]);
  });

  it('a maintenance round that met a stalled database reaps nothing for a window (F13)', async () => {
    const maintenance = borg().mothership.maintenance;
    await graceOver();
    faulty.stall(/^SELECT now\(\) AS now/, 1_500); // longer than the 1 s heartbeat interval
    await borg().tick();
    expect(maintenance.inGracePeriod()).toBe(true);
  });

  it('a heartbeat the database does not answer within an interval is answered 503 DATABASE_UNAVAILABLE, and the reaper waits (F13)', async () => {
    const maintenance = borg().mothership.maintenance;
    const { runner } = scope();
    const solder = await runner();
    await graceOver();
    // Frozen for three intervals: left hanging, the solder would take this for a partition and
    // stop its tasks once out of touch for the offline window (disconnect-guard.ts).
    faulty.stall(/^UPDATE runners r SET last_heartbeat = now\(\)/, 3_000);
    const sent = performance.now();
    const answer = await fetch(`${borg().url}/api/v1/runners/${solder.id}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${solder.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    const waitedMs = performance.now() - sent;
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('DATABASE_UNAVAILABLE');
    expect(waitedMs).toBeLessThan(2_900); // the interval is 1 s; the stall alone is 3 s
    expect(maintenance.inGracePeriod()).toBe(true);
  });

  it('a serialization failure or a deadlock is a 503 to retry, never a 500', async () => {
    const { submit, runner } = scope();
    await submit();
    const solder = await runner();
    for (const fault of [FAULTS.serializationFailure, FAULTS.deadlock]) {
      const end = faulty.failAfter(0, fault, { pattern: /borg_claim/ });
      const response = await fetch(`${borg().url}/api/v1/runners/${solder.id}/tasks/next?wait=0`, {
        headers: { authorization: `Bearer ${solder.token}` },
      });
      end();
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    expect(await claim(solder)).toHaveLength(1);
  });

  it('real solders finish every task, each log whole, while one statement in 9 fails', async () => {
    const { labels, submit } = scope();
    for (let i = 0; i < 3; i++) {
      solders.push(await startSolder(borg(), { labels, maxConcurrentTasks: 2, longPollSeconds: 2 }));
    }
    // One statement in 9 fails, at random (a seeded generator, so a failure can be replayed).
    const seed = Date.now() % 100_000;
    const random = seeded(seed);
    const end = faulty.inject(() => (random() < 1 / 9 ? FAULTS.connectionReset() : undefined));
    const jobs: Job[] = [];
    for (let i = 0; i < 8; i++) {
      jobs.push(
        await eventually(
          () => submit(`for i in 1 2 3 4 5; do echo "job ${i} line $i"; done`).catch(() => undefined),
          10_000,
          'a job to be accepted',
        ),
      );
    }
    // Reads fail now and then too: each poll asks for the jobs not yet seen finished.
    const finished = new Map<string, JobWithTasks>();
    await eventually(
      async () => {
        await borg().tick(); // maintenance repairs what a fault left half-done
        for (const job of jobs.filter((j) => !finished.has(j.id))) {
          const seen = await borg()
            .admin.getJob(job.id)
            .catch(() => undefined);
          if (seen?.completed_at) finished.set(job.id, seen);
        }
        return finished.size === jobs.length;
      },
      60_000,
      'every job to finish',
    );
    end();
    expect(faulty.injected, `seed ${seed}`).toBeGreaterThan(10);
    for (const job of finished.values()) {
      expect(job.status).toBe('succeeded');
      const winner = job.tasks.find((t) => t.status === 'succeeded')!;
      const log = (await borg().admin.getTaskLogs(winner.id)).items.map((l) => l.message);
      const i = jobs.findIndex((j) => j.id === job.id);
      expect(log).toEqual([1, 2, 3, 4, 5].map((n) => `job ${i} line ${n}`));
    }
    expect(await checker.check()).toEqual([]);
  }, 90_000);
});

/** A small seeded generator (mulberry32): the same seed gives the same fault schedule. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
