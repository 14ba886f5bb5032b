import { randomUUID } from 'node:crypto';

import type { CreateJobRequest, Task } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { reapSilentRunner } from '../../../test/runner-silence.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * on_disconnect keep, the mothership's side (docs/job-lifecycle.md, "Cut off from the
 * mothership"): an attempt taken back while its runner was cut off stays taken back, but the copy
 * its runner kept running is named in the heartbeat's kept_task_ids, not abandoned, while its
 * element has not succeeded; a kept copy that succeeds first is taken over (POST
 * /tasks/:id/take-over) and the copy running elsewhere is superseded. Runners are driven through
 * the API; heartbeats every 1 s, so a silent runner is offline after 3 s.
 */
describe('kept copies (on_disconnect keep)', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 1 } });
  const invariants = new InvariantChecker(() => borg().db);
  afterEach(async () => {
    expect(await invariants.check()).toEqual([]);
  });

  function scope() {
    const labels = { scope: randomUUID() };
    return {
      submit: (job: Partial<CreateJobRequest> = {}) =>
        borg().admin.createJob({
          name: 'kept',
          command: 'sleep 600',
          labels,
          retry: { max_attempts: 1 },
          on_disconnect: { keep: true },
          ...job,
        }),
      runner: () => borg().registerRunner({ labels }),
    };
  }

  const tasksOf = async (jobId: string): Promise<Task[]> => (await borg().admin.getJob(jobId)).tasks;

  async function claimRunning(runner: TestRunner): Promise<string> {
    const task = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    return task.id;
  }

  /** The runner goes quiet past the 3 s window and the reaper takes its tasks back. */
  const cutOff = (runner: TestRunner) => reapSilentRunner(borg(), runner, 3);

  it('keeps the copy while its element has not succeeded, takes it over when it succeeds first, and supersedes the other', async () => {
    const { submit, runner } = scope();
    const job = await submit();
    const cut = await runner();
    const first = await claimRunning(cut);
    await cutOff(cut);
    const other = await runner();
    const second = await claimRunning(other);
    expect((await tasksOf(job.id)).map((t) => [t.attempt, t.status, t.reason])).toEqual([
      [1, 'lost', 'runner_lost'],
      [2, 'running', null],
    ]);

    // Back in touch: the copy is named as kept, not abandoned.
    const beat = await cut.client.heartbeat(cut.id, { task_ids: [first] });
    expect(beat).toMatchObject({ abandon_task_ids: [], kept_task_ids: [first] });
    // Its log lines and reports are still refused: the attempt stays taken back.
    await expect(cut.client.reportTaskStatus(first, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
    });

    // It succeeded first: it is taken over.
    const { task: third } = await cut.client.takeOverTask(first);
    expect(third).toMatchObject({ attempt: 3, status: 'running', runner_id: cut.id, index: 0 });
    const tasks = await tasksOf(job.id);
    expect(tasks.map((t) => [t.attempt, t.status, t.reason])).toEqual([
      [1, 'lost', 'runner_lost'],
      [2, 'cancelled', 'superseded'],
      [3, 'running', null],
    ]);
    expect(tasks[1]!.error).toMatch(/attempt 1, kept running by its runner while cut off .* succeeded first/);
    expect(tasks[1]!.retry_decision).toBeNull();

    // The superseded copy's runner is told to drop it; whatever it says of it is refused.
    expect((await other.client.heartbeat(other.id, { task_ids: [second] })).abandon_task_ids).toEqual([second]);
    await expect(other.client.reportTaskStatus(second, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
    });
    await expect(
      other.client.appendTaskLogs(second, { seq: 0, lines: [{ stream: 'stdout', message: 'late' }] }),
    ).rejects.toMatchObject({ status: 409 });

    // The taken-over attempt ends as any attempt does.
    await cut.client.appendTaskLogs(third.id, { seq: 0, lines: [{ stream: 'stdout', message: 'kept' }] });
    await cut.client.reportTaskStatus(third.id, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
    // A second take-over of the same copy is refused: its element has succeeded.
    await expect(cut.client.takeOverTask(first)).rejects.toMatchObject({ status: 409, code: 'STALE_TASK' });
  });

  it('abandons the copy once its element succeeded elsewhere', async () => {
    const { submit, runner } = scope();
    const job = await submit();
    const cut = await runner();
    const first = await claimRunning(cut);
    await cutOff(cut);
    const other = await runner();
    const second = await claimRunning(other);
    await other.client.reportTaskStatus(second, { status: 'succeeded', exit_code: 0 });

    const beat = await cut.client.heartbeat(cut.id, { task_ids: [first] });
    expect(beat).toMatchObject({ abandon_task_ids: [first], kept_task_ids: [] });
    await expect(cut.client.takeOverTask(first)).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
      message: expect.stringMatching(/its element already succeeded/),
    });
    expect((await tasksOf(job.id)).map((t) => t.status)).toEqual(['lost', 'succeeded']);
  });

  it('refuses a take-over for a job that keeps no copies, another runner’s task, or while the runner is offline', async () => {
    const { submit, runner } = scope();
    const plain = await submit({ on_disconnect: undefined });
    const cut = await runner();
    const first = await claimRunning(cut);
    await cutOff(cut);
    // Still offline (no heartbeat yet): a job that keeps copies would get 409 CONFLICT; this one none.
    await expect(cut.client.takeOverTask(first)).rejects.toMatchObject({
      status: 409,
      code: 'STALE_TASK',
      message: expect.stringMatching(/does not keep copies/),
    });
    expect((await cut.client.heartbeat(cut.id, { task_ids: [first] })).abandon_task_ids).toEqual([first]);
    const stranger = await runner();
    await expect(stranger.client.takeOverTask(first)).rejects.toMatchObject({ status: 403 });
    expect((await tasksOf(plain.id)).map((t) => t.status)).toEqual(['lost', 'pending']);

    const fresh = scope(); // the plain job's retry is pending: this case's runner must not take it
    const kept = await fresh.submit();
    const quiet = await fresh.runner();
    const copy = await claimRunning(quiet);
    await cutOff(quiet);
    await expect(quiet.client.takeOverTask(copy)).rejects.toMatchObject({ status: 409, code: 'CONFLICT' });
    await quiet.client.heartbeat(quiet.id, { task_ids: [copy] });
    // The retry was still pending: it is superseded, and the copy taken over.
    const { task } = await quiet.client.takeOverTask(copy);
    expect((await tasksOf(kept.id)).map((t) => [t.attempt, t.status, t.reason])).toEqual([
      [1, 'lost', 'runner_lost'],
      [2, 'cancelled', 'superseded'],
      [3, 'running', null],
    ]);
    await quiet.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
  });
});
