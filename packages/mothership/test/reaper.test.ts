import { randomUUID } from 'node:crypto';

import type { CreateJobRequest, Task } from '@borg/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { taskStore } from '../src/jobs/task-store.ts';

/**
 * The reaper and runner sessions (semantics 2; F1, F6, F7, F8, F23). Heartbeats are every 1 s,
 * so a runner silent for 3 s is offline, and a leader waits 3 s after taking the lead before it
 * ends anything. Maintenance runs only when a test calls tick(); waits use the database clock.
 */

describe('the reaper and runner sessions', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 1 } });
  // Every case ends with the reliability invariants I1–I7 over the whole database (F1, F6, F7, F23).
  const invariants = new InvariantChecker(() => borg().db);
  afterEach(async () => {
    expect(await invariants.check()).toEqual([]);
  });
  const maintenance = () => borg().mothership.maintenance;

  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Each test's jobs and runners share a label no other test uses, so they never meet. */
  function scope() {
    const labels = { scope: randomUUID() };
    return {
      submit: (job: Partial<CreateJobRequest> = {}) =>
        borg().admin.createJob({ name: 'reaper-test', type: 'shell', command: 'sleep 600', ...job, labels }),
      runner: (capacity = 1, deviceId?: string) =>
        borg().registerRunner({ max_concurrent_tasks: capacity, labels, device_id: deviceId }),
    };
  }

  async function claim(runner: TestRunner, max = 1) {
    return (await runner.client.nextTasks(runner.id, { wait: 0, max }))?.items ?? [];
  }

  const dbSays = async (sql: string, params: unknown[]): Promise<boolean> =>
    (await borg().db.query<{ ok: boolean }>(sql, params)).rows[0]?.ok === true;

  /** Waits until the database, on its own clock, answers `ok`. */
  const untilDatabaseSays = (what: string, sql: string, params: unknown[]) =>
    expect.poll(() => dbSays(sql, params), { timeout: 15_000, message: what }).toBe(true);

  /** Waits until the runner has been silent for longer than the 3 s offline window (database clock). */
  const untilSilentPastWindow = (runner: TestRunner) =>
    untilDatabaseSays(
      'the runner to be silent for 3 s',
      "SELECT last_heartbeat < now() - interval '3.2 seconds' AS ok FROM runners WHERE id = $1",
      [runner.id],
    );

  const untilGraceEnds = () => expect.poll(() => maintenance().inGracePeriod(), { timeout: 15_000 }).toBe(false);

  async function leaderOutOfGrace(): Promise<void> {
    await borg().tick();
    await untilGraceEnds();
  }

  const tasksOf = async (jobId: string): Promise<Task[]> => (await borg().admin.getJob(jobId)).tasks;
  const runnerStatus = async (runner: TestRunner) => (await borg().admin.getRunner(runner.id)).status;

  // First in the file on purpose: it needs a leader that has only just started.
  it('reaps nothing for one offline window after start-up, then a silent runner’s task is lost and retried elsewhere', async () => {
    expect(maintenance().isLeader).toBe(false); // no tick yet: the leader starts below
    const { submit, runner } = scope();
    const job = await submit({ max_attempts: 2 });
    const silent = await runner();
    const [first] = await claim(silent);
    await silent.client.reportTaskStatus(first!.id, { status: 'running' });
    await silent.client.appendTaskLogs(first!.id, { seq: 0, lines: [{ stream: 'stdout', message: 'partial' }] });
    await untilSilentPastWindow(silent);

    // The silence may have been the server's own (a restart): a new leader waits one window.
    const healthy = await runner();
    for (const pause of [0, 500]) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      await healthy.client.heartbeat(healthy.id, {});
      await borg().tick();
      expect(maintenance().inGracePeriod()).toBe(true); // so the whole tick ran within the grace
      expect(await runnerStatus(silent)).toBe('busy');
      expect((await tasksOf(job.id)).map((t) => t.status)).toEqual(['running']);
    }

    await untilGraceEnds();
    await healthy.client.heartbeat(healthy.id, {});
    await borg().tick();
    expect(await runnerStatus(silent)).toBe('offline');
    expect(await runnerStatus(healthy)).not.toBe('offline');
    const [lost, retry] = await tasksOf(job.id);
    expect(lost).toMatchObject({
      id: first!.id,
      attempt: 1,
      status: 'lost',
      reason: 'runner_lost',
      runner_id: silent.id,
    });
    expect(lost!.error).toMatch(/heartbeat/);
    expect(retry).toMatchObject({ index: 0, attempt: 2, status: 'pending' });

    const [second] = await claim(healthy);
    expect(second).toMatchObject({ id: retry!.id, attempt: 2 });
    await healthy.client.reportTaskStatus(second!.id, { status: 'running' });
    await healthy.client.reportTaskStatus(second!.id, { status: 'succeeded', exit_code: 0 });
    const settled = await tasksOf(job.id);

    // The silent runner comes back: everything it says about its old attempt is refused.
    for (const status of ['running', 'succeeded'] as const) {
      await expect(
        silent.client.reportTaskStatus(first!.id, { status, exit_code: status === 'succeeded' ? 0 : undefined }),
      ).rejects.toMatchObject({ status: 409, code: 'STALE_TASK' });
    }
    await expect(
      silent.client.appendTaskLogs(first!.id, { seq: 1, lines: [{ stream: 'stdout', message: 'late' }] }),
    ).rejects.toMatchObject({ status: 409, code: 'STALE_TASK' });
    const beat = await silent.client.heartbeat(silent.id, { task_ids: [first!.id] });
    expect(beat.abandon_task_ids).toEqual([first!.id]);
    expect(await tasksOf(job.id)).toEqual(settled);
    expect((await borg().admin.getTaskLogs(first!.id)).items.map((l) => l.message)).toEqual(['partial']);
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('never reaps a runner that keeps heartbeating, even while its task outlives the offline window (F23)', async () => {
    await leaderOutOfGrace();
    const { submit, runner } = scope();
    const job = await submit({ max_attempts: 2 });
    const solder = await runner();
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });

    // A heartbeat and a maintenance round every 250 ms, until the task is older than the window.
    let rounds = 0;
    await vi.waitFor(
      async () => {
        await solder.client.heartbeat(solder.id, { task_ids: [task!.id] });
        await borg().tick();
        rounds++;
        const sql = "SELECT started_at < now() - interval '3.5 seconds' AS ok FROM tasks WHERE id = $1";
        if (!(await dbSays(sql, [task!.id]))) throw new Error('the task has not run for longer than the 3 s window');
      },
      { timeout: 15_000, interval: 250 },
    );
    expect(rounds).toBeGreaterThan(1);
    expect(await runnerStatus(solder)).toBe('busy');
    expect(await tasksOf(job.id)).toMatchObject([{ id: task!.id, status: 'running' }]);
    await solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('leaves a task succeeded when its completion commits between the reaper’s select and its update (F6)', async () => {
    await leaderOutOfGrace();
    const { submit, runner } = scope();
    const job = await submit({ max_attempts: 2 });
    const solder = await runner();
    const [task] = await claim(solder);
    await solder.client.reportTaskStatus(task!.id, { status: 'running' });
    // Its last heartbeat was long ago (set in the database rather than waited for: this test is
    // about the interleaving, the one above about the waiting).
    await borg().db.query("UPDATE runners SET last_heartbeat = now() - interval '1 minute' WHERE id = $1", [solder.id]);

    // The hook: the reaper has picked the offline runner's tasks; the completion lands now.
    const select = taskStore.heldByOfflineRunners.bind(taskStore);
    let selected: string[] = [];
    vi.spyOn(taskStore, 'heldByOfflineRunners').mockImplementation(async (db, limit) => {
      const rows = await select(db, limit);
      selected = rows.map((r) => r.id);
      if (selected.includes(task!.id)) {
        await solder.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 });
      }
      return rows;
    });
    await borg().tick();

    expect(selected).toContain(task!.id); // the reaper did select it...
    expect(await runnerStatus(solder)).toBe('offline');
    const tasks = await tasksOf(job.id);
    expect(tasks).toHaveLength(1); // ...and its conditional update changed nothing: no retry either
    expect(tasks[0]).toMatchObject({ status: 'succeeded', exit_code: 0, reason: null });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('ends the old session when a device registers again: same id, old token refused, its tasks lost and retried (F7)', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 2, max_attempts: 2 });
    const deviceId = `device-${randomUUID()}`;
    const old = await runner(2, deviceId);
    const held = await claim(old, 2);
    expect(held).toHaveLength(2);
    await old.client.reportTaskStatus(held[0]!.id, { status: 'running' }); // the other stays assigned

    const renewed = await runner(2, deviceId);
    expect(renewed.id).toBe(old.id);
    expect(renewed.token).not.toBe(old.token);
    await expect(old.client.heartbeat(old.id, {})).rejects.toMatchObject({ status: 401 });
    await expect(old.client.reportTaskStatus(held[0]!.id, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject(
      {
        status: 401,
      },
    );
    await expect(old.client.nextTasks(old.id, { wait: 0 })).rejects.toMatchObject({ status: 401 });
    const { rows } = await borg().db.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM runners WHERE device_id = $1',
      [deviceId],
    );
    expect(rows[0]!.n).toBe(1);

    const tasks = await tasksOf(job.id);
    const previous = tasks.filter((t) => t.attempt === 1);
    expect(previous.map((t) => [t.status, t.reason])).toEqual([
      ['lost', 'runner_restarted'],
      ['lost', 'runner_restarted'],
    ]);
    expect(tasks.filter((t) => t.attempt === 2).map((t) => t.status)).toEqual(['pending', 'pending']);

    const again = await claim(renewed, 2);
    expect(again.map((t) => t.attempt)).toEqual([2, 2]);
    await expect(renewed.client.reportTaskStatus(held[0]!.id, { status: 'running' })).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
    });
    for (const task of again) {
      await renewed.client.reportTaskStatus(task.id, { status: 'running' });
      await renewed.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
    }
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
  });

  it('reconciles a heartbeat’s task list: abandons what the runner no longer holds, takes back what it forgot', async () => {
    const { submit, runner } = scope();
    const job = await submit({ array_size: 3, max_attempts: 2 });
    const solder = await runner(3);
    const [done, running, assigned] = await claim(solder, 3);
    await solder.client.reportTaskStatus(done!.id, { status: 'running' });
    await solder.client.reportTaskStatus(done!.id, { status: 'succeeded', exit_code: 0 });
    await solder.client.reportTaskStatus(running!.id, { status: 'running' });
    const other = scope();
    const otherJob = await other.submit();
    const otherRunner = await other.runner();
    const [notMine] = await claim(otherRunner);
    const unknown = randomUUID();

    const beat = await solder.client.heartbeat(solder.id, {
      task_ids: [done!.id, running!.id, assigned!.id, notMine!.id, unknown],
    });
    expect(beat.abandon_task_ids.sort()).toEqual([done!.id, notMine!.id, unknown].sort());
    expect((await tasksOf(otherJob.id))[0]).toMatchObject({ status: 'assigned', runner_id: otherRunner.id });

    // Held tasks it stops mentioning (after a grace of one interval) are taken back: a claim it
    // never started goes back to the queue unspent; a started one is lost and retried.
    await untilDatabaseSays(
      'a heartbeat interval to pass since the claim',
      "SELECT assigned_at < now() - interval '1.2 seconds' AS ok FROM tasks WHERE id = $1",
      [assigned!.id],
    );
    await solder.client.heartbeat(solder.id, { task_ids: [running!.id] });
    const released = (await tasksOf(job.id)).find((t) => t.id === assigned!.id);
    expect(released).toMatchObject({ status: 'pending', attempt: 1, runner_id: null });
    expect((await tasksOf(job.id)).find((t) => t.id === running!.id)?.status).toBe('running');

    await solder.client.heartbeat(solder.id, { task_ids: [] });
    const tasks = await tasksOf(job.id);
    expect(tasks.find((t) => t.id === running!.id)).toMatchObject({ status: 'lost', reason: 'runner_lost' });
    expect(tasks.filter((t) => t.index === running!.index).map((t) => [t.attempt, t.status])).toEqual([
      [1, 'lost'],
      [2, 'pending'],
    ]);
    await borg().admin.cancelJob(job.id);
    await borg().admin.cancelJob(otherJob.id);
  });
});
