import type { BorgApiError } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { FaultyDatabase } from '../../../test/reliability/harness/faulty-database.ts';
import { ENGINE } from '../../../test/test-database.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';

describe('a task from submit to success', () => {
  const borg = useTestMothership();

  it('is claimed, run, logged and finished, and the job follows', async () => {
    const { admin } = borg();
    const runner = await borg().registerRunner({ max_concurrent_tasks: 2 });
    const job = await admin.createJob({ name: 'hello', type: 'shell', command: 'echo hello' });
    expect(job.status).toBe('queued');

    const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 2 });
    expect(next?.items).toHaveLength(1);
    const task = next!.items[0]!;
    expect(task).toMatchObject({ job_id: job.id, index: 0, attempt: 1, command: 'echo hello', status: 'assigned' });
    expect(task.env).toMatchObject({
      BORG_JOB_ID: job.id,
      BORG_TASK_ID: task.id,
      BORG_TASK_INDEX: '0',
      BORG_ATTEMPT: '1',
    });
    expect((await admin.getJob(job.id)).status).toBe('running');

    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    await runner.client.appendTaskLogs(task.id, { seq: 0, lines: [{ stream: 'stdout', message: 'hello' }] });
    await runner.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });

    const done = await admin.getJob(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.completed_at).not.toBeNull();
    expect(done.tasks).toHaveLength(1);
    expect(done.tasks[0]).toMatchObject({ status: 'succeeded', exit_code: 0, runner_id: runner.id });
    const logs = await admin.getTaskLogs(task.id);
    expect(logs.items.map((l) => l.message)).toEqual(['hello']);

    await expect(runner.client.reportTaskStatus(task.id, { status: 'failed', exit_code: 1 })).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
    } satisfies Partial<BorgApiError>);
  });
});

describe('an array job whose tasks all end at once', () => {
  const borg = useTestMothership();

  // Successes take the task's lock only and refresh the job after their commit; of tasks
  // ending together the last to commit must still see the others ended and end the job.
  it('ends succeeded, and a failure among them makes it failed, whatever the order of commits', async () => {
    const { admin } = borg();
    const runner = await borg().registerRunner({ max_concurrent_tasks: 40 });
    for (const failing of [false, true]) {
      const job = await admin.createJob({
        name: `together-${failing}`,
        type: 'shell',
        command: 'true',
        array_size: 20,
      });
      const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 40 });
      expect(next?.items).toHaveLength(20);
      await Promise.all(next!.items.map((t) => runner.client.reportTaskStatus(t.id, { status: 'running' })));
      expect((await admin.getJob(job.id)).status).toBe('running');
      await Promise.all(
        next!.items.map((t) =>
          runner.client.reportTaskStatus(
            t.id,
            failing && t.index === 7 ? { status: 'failed', exit_code: 3 } : { status: 'succeeded', exit_code: 0 },
          ),
        ),
      );
      const done = await admin.getJob(job.id);
      expect(done.status).toBe(failing ? 'failed' : 'succeeded');
      expect(done.completed_at).not.toBeNull();
    }
  });
});

// Only on PostgreSQL: PGlite has one connection, so two transactions never interleave there.
describe.skipIf(ENGINE !== 'postgres')('a server ending beside the last success of an array job', () => {
  let faulty!: FaultyDatabase;
  const borg = useTestMothership({ wrap: { wrapDatabase: (db) => (faulty = new FaultyDatabase(db)) } });

  /** Sessions of this test's database waiting on a lock, running a statement that starts like `query`. */
  const lockWaits = async (query: string) => {
    const { rows } = await borg().db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
      [query],
    );
    return rows[0]!.n;
  };

  // The server's own endings (lost runner, timeout backstop) lock the job and refresh it in
  // their transaction; a success locks only its task. Here the success commits, and looks at
  // the job, between the timeout's refresh and its commit: each sees the other live, so the
  // one that commits last has to look again after its commit, or the job stays running.
  it('ends the job without waiting for the maintenance sweep', async () => {
    const { admin, services } = borg();
    const runner = await borg().registerRunner({ max_concurrent_tasks: 2 });
    const job = await admin.createJob({ name: 'timeout-beside', type: 'shell', command: 'true', array_size: 2 });
    const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 2 });
    expect(next?.items).toHaveLength(2);
    const [slow, quick] = next!.items;
    for (const t of next!.items) await runner.client.reportTaskStatus(t.id, { status: 'running' });

    let armed = true;
    const remove = faulty.afterEachTransactionStatement(async (sql) => {
      if (!armed || !/UPDATE jobs j SET/.test(sql)) return;
      armed = false;
      await runner.client.reportTaskStatus(quick!.id, { status: 'succeeded', exit_code: 0 });
    });
    try {
      await services.queue.endTaskByServer(slow!.id, { status: 'timed_out', reason: 'server_timeout', error: 'test' });
    } finally {
      remove();
    }
    expect(armed).toBe(false);
    const done = await admin.getJob(job.id);
    expect(done.tasks.map((t) => t.status).sort()).toEqual(['succeeded', 'timed_out']);
    expect(done.status).toBe('failed');
    expect(done.completed_at).not.toBeNull();
  });

  // `succeeded` from its holder is one conditional UPDATE (taskStore.advance). Sent while the
  // timeout holds the task's row, it waits, then finds the row no longer `running`: the timeout
  // stands, the report is refused as stale, and nothing is counted twice.
  it('refuses a success that lands while the server is timing the same task out', async () => {
    const { admin, services } = borg();
    const runner = await borg().registerRunner({ max_concurrent_tasks: 1 });
    const job = await admin.createJob({ name: 'timeout-then-success', type: 'shell', command: 'true' });
    const [task] = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items;
    await runner.client.reportTaskStatus(task!.id, { status: 'running' });

    let late: Promise<unknown> | undefined;
    const remove = faulty.afterEachTransactionStatement(async (sql) => {
      if (late || !/^UPDATE tasks t SET status = \$2/.test(sql)) return;
      late = runner.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 }).then(
        () => 'accepted',
        (error: BorgApiError) => error.code,
      );
      // The report's UPDATE waits on the row lock this transaction holds.
      await expect.poll(() => lockWaits("UPDATE tasks t SET status = 'succeeded'%"), { timeout: 10_000 }).toBe(1);
    });
    try {
      await services.queue.endTaskByServer(task!.id, { status: 'timed_out', reason: 'server_timeout', error: 'test' });
    } finally {
      remove();
    }
    expect(await late).toBe('STALE_TASK');
    const done = await admin.getJob(job.id);
    expect(done.tasks.map((t) => t.status)).toEqual(['timed_out']);
    expect(done.status).toBe('failed');
  });
});

describe('the job list filtered by status', () => {
  const borg = useTestMothership();

  // One status is a plain equality in SQL (it walks the status index), several are `= ANY`.
  it('returns the jobs of one status, and of several', async () => {
    const { admin } = borg();
    const queued = await admin.createJob({ name: 'by-status-queued', type: 'shell', command: 'true' });
    const paused = await admin.createJob({ name: 'by-status-paused', type: 'shell', command: 'true' });
    await admin.pauseJob(paused.id);
    const ids = async (status: Parameters<typeof admin.listJobs>[0]) =>
      (await admin.listJobs(status)).items.map((j) => j.id).sort();
    expect(await ids({ status: 'paused' })).toEqual([paused.id]);
    expect(await ids({ status: 'queued' })).toEqual([queued.id]);
    expect(await ids({ status: ['queued', 'paused'] })).toEqual([queued.id, paused.id].sort());
    expect(await ids({ status: 'failed' })).toEqual([]);
  });
});
