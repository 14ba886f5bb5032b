import { randomUUID } from 'node:crypto';

import type { ClaimedTask, CreateJobRequest, Task, TaskStatusRequest } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { reapSilentRunner } from '../../../test/runner-silence.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { startSolder } from '../../../test/test-solder.ts';

/**
 * Retry rules (docs/job-lifecycle.md, "Retry rules"): which endings retry, that a lost attempt
 * does not use one up, the bound on lost retries, on_timeout, a job's own backoff, and the
 * attempt list saying which rule decided. Runners are driven through the API (as a solder would)
 * except where a real process must die of a signal. Heartbeats every 1 s: a runner silent for
 * 3 s is offline. Times come from the database's clock, never the test's own speed.
 */
describe('retry rules', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 1 } });
  const invariants = new InvariantChecker(() => borg().db);
  afterEach(async () => {
    expect(await invariants.check()).toEqual([]);
  });

  /** Each test's jobs and runners share a label no other test uses, so they never meet. */
  function scope() {
    const labels = { scope: randomUUID() };
    return {
      labels,
      submit: (job: Partial<CreateJobRequest> = {}) =>
        borg().admin.createJob({ name: 'retry-rules', type: 'shell', command: 'exit 1', ...job, labels }),
      runner: (deviceId?: string) => borg().registerRunner({ labels, device_id: deviceId }),
    };
  }

  const tasksOf = async (jobId: string): Promise<Task[]> => (await borg().admin.getJob(jobId)).tasks;

  async function claimOne(runner: TestRunner) {
    const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 1 });
    expect(next?.items).toHaveLength(1);
    return next!.items[0]!;
  }

  /** Claims the element's next attempt once its backoff is over (polling), starts it and ends it so. */
  async function attempt(runner: TestRunner, ending: TaskStatusRequest): Promise<Task> {
    let claimed: ClaimedTask | undefined;
    await expect
      .poll(async () => (claimed ??= (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))?.items[0]), {
        timeout: 15_000,
      })
      .toBeDefined();
    await runner.client.reportTaskStatus(claimed!.id, { status: 'running' });
    return (await runner.client.reportTaskStatus(claimed!.id, ending)).task;
  }

  const ms = (iso: string | null) => Date.parse(iso!);

  it('retries the exit codes on_exit_codes lists, and the attempt list says which rule retried what', async () => {
    const { submit, runner } = scope();
    const job = await submit({ retry: { max_attempts: 3, on_exit_codes: [1, 137] } });
    expect(job.retry).toEqual({
      max_attempts: 3,
      on_exit_codes: [1, 137],
      on_signals: null,
      on_lost: true,
      on_timeout: false,
      lost_counts: false,
      backoff: null,
    });
    expect(job.max_attempts).toBe(3);
    const solder = await runner();

    const first = await attempt(solder, { status: 'failed', exit_code: 137 });
    expect(first.retry_decision).toEqual({
      retried: true,
      rule: 'on_exit_codes',
      counted: true,
      message: 'exit code 137 matched on_exit_codes (1 of 3 attempts used)',
    });
    const second = await attempt(solder, { status: 'failed', exit_code: 2 });
    expect(second.retry_decision).toEqual({
      retried: false,
      rule: 'on_exit_codes',
      counted: true,
      message: 'exit code 2 is not in on_exit_codes',
    });
    const done = await borg().admin.getJob(job.id);
    expect(done.status).toBe('failed');
    expect(done.tasks.map((t) => [t.attempt, t.status, t.exit_code, t.retry_decision?.retried])).toEqual([
      [1, 'failed', 137, true],
      [2, 'failed', 2, false],
    ]);
  });

  it('retries a task killed by a signal on_signals lists: a real solder, a shell that SIGKILLs itself', async () => {
    const { submit, labels } = scope();
    const solder = await startSolder(borg(), { labels });
    try {
      const job = await submit({
        command: 'if [ "$BORG_ATTEMPT" = 1 ]; then kill -9 $$; fi; echo second',
        retry: { max_attempts: 2, on_signals: ['SIGKILL'], backoff: { initial: '100ms', max: '100ms' } },
      });
      await expect.poll(async () => (await borg().admin.getJob(job.id)).status, { timeout: 30_000 }).toBe('succeeded');
      const [killed, second] = await tasksOf(job.id);
      expect(killed).toMatchObject({ attempt: 1, status: 'failed', exit_code: null, signal: 'SIGKILL' });
      expect(killed!.retry_decision).toMatchObject({
        retried: true,
        rule: 'on_signals',
        message: expect.stringMatching(/^killed by SIGKILL matched on_signals/),
      });
      expect(second).toMatchObject({ attempt: 2, status: 'succeeded', signal: null, retry_decision: null });
    } finally {
      await solder.stop({ cancelRunning: true });
    }
  }, 60_000);

  it('a lost attempt does not use one up: max_attempts 1 still gets a second attempt after its runner goes offline', async () => {
    const { submit, runner } = scope();
    const job = await submit({ retry: { max_attempts: 1 } });
    const silent = await runner();
    const first = await claimOne(silent);
    await silent.client.reportTaskStatus(first.id, { status: 'running' });
    // The runner goes quiet; after 3 s without a heartbeat (database clock) the reaper takes its task back.
    await reapSilentRunner(borg(), silent, 3);
    const [lost, retry] = await tasksOf(job.id);
    expect(lost).toMatchObject({ attempt: 1, status: 'lost', reason: 'runner_lost' });
    expect(lost!.retry_decision).toEqual({
      retried: true,
      rule: 'on_lost',
      counted: false,
      message: 'its runner was lost: on_lost retries it (not counted against max_attempts)',
    });
    expect(retry).toMatchObject({ attempt: 2, status: 'pending' });

    // Attempt 2 is the first that counts: its failure ends the job.
    const healthy = await runner();
    const failed = await attempt(healthy, { status: 'failed', exit_code: 1 });
    expect(failed.retry_decision).toMatchObject({ retried: false, rule: 'max_attempts', counted: true });
    expect((await borg().admin.getJob(job.id)).status).toBe('failed');
  });

  it('lost_counts: a lost attempt uses one up; on_lost false: it is not retried at all', async () => {
    const { submit, runner } = scope();
    const counting = await submit({ retry: { max_attempts: 1, lost_counts: true } });
    const solder = await runner(`device-${randomUUID()}`);
    await claimOne(solder);
    await runner(solder.deviceId); // registering again loses what the old session held (runner_restarted)
    expect((await tasksOf(counting.id)).map((t) => [t.status, t.reason, t.retry_decision?.rule])).toEqual([
      ['lost', 'runner_restarted', 'max_attempts'],
    ]);

    const strict = await submit({ retry: { max_attempts: 3, on_lost: false } });
    const again = await runner(`device-${randomUUID()}`);
    await claimOne(again);
    await runner(again.deviceId);
    const [only] = await tasksOf(strict.id);
    expect(only!.retry_decision).toEqual({
      retried: false,
      rule: 'on_lost',
      counted: false,
      message: 'its runner restarted, and on_lost is false',
    });
    expect((await borg().admin.getJob(strict.id)).status).toBe('failed');
  });

  it('bounds lost retries: the 11th loss of one element ends it (lost_limit)', async () => {
    const { submit, runner } = scope();
    const job = await submit({ retry: { max_attempts: 1 } });
    let solder = await runner(`device-${randomUUID()}`);
    for (let i = 0; i < 11; i++) {
      await claimOne(solder);
      solder = await runner(solder.deviceId);
    }
    const tasks = await tasksOf(job.id);
    expect(tasks).toHaveLength(11);
    expect(tasks.slice(0, 10).every((t) => t.status === 'lost' && t.retry_decision?.retried)).toBe(true);
    expect(tasks[10]!.retry_decision).toMatchObject({ retried: false, rule: 'lost_limit', counted: false });
    expect((await borg().admin.getJob(job.id)).status).toBe('failed');
  });

  it('retries a timed-out attempt only with on_timeout', async () => {
    const { submit, runner } = scope();
    const solder = await runner();
    const off = await submit({ timeout_seconds: 60, retry: { max_attempts: 3 } });
    const offEnded = await attempt(solder, { status: 'timed_out' });
    expect(offEnded.retry_decision).toMatchObject({
      retried: false,
      rule: 'on_timeout',
      message: 'timed out, and on_timeout is false',
    });
    expect((await borg().admin.getJob(off.id)).status).toBe('failed');

    const on = await submit({ timeout_seconds: 60, retry: { max_attempts: 3, on_timeout: true } });
    const onEnded = await attempt(solder, { status: 'timed_out' });
    expect(onEnded.retry_decision).toMatchObject({ retried: true, rule: 'on_timeout' });
    expect((await tasksOf(on.id)).map((t) => t.status)).toEqual(['timed_out', 'pending']);
  });

  it('waits the job’s own backoff between attempts: doubling from initial, capped at max, jittered', async () => {
    const { submit, runner } = scope();
    const job = await submit({ retry: { max_attempts: 4, backoff: { initial: '400ms', max: '1s' } } });
    const solder = await runner();
    for (let i = 0; i < 3; i++) await attempt(solder, { status: 'failed', exit_code: 1 });
    const tasks = await tasksOf(job.id);
    expect(tasks.map((t) => t.attempt)).toEqual([1, 2, 3, 4]);
    // Each wait is between half and all of its nominal delay: 400 ms, 800 ms, then 1 s (the cap).
    const waits = [1, 2, 3].map((n) => ms(tasks[n]!.available_at) - ms(tasks[n - 1]!.completed_at));
    for (const [wait, nominal] of waits.map((w, i) => [w, [400, 800, 1000][i]!] as const)) {
      expect(wait).toBeGreaterThanOrEqual(nominal / 2 - 1);
      expect(wait).toBeLessThanOrEqual(nominal + 1);
    }
  });

  it('answers 400 for rules that contradict themselves or are malformed', async () => {
    const { submit } = scope();
    for (const [extra, message] of [
      [{ max_attempts: 2, retry: { max_attempts: 3 } }, /max_attempts is 2 and retry.max_attempts 3/],
      [{ retry: { on_signals: ['SIGNOPE'] } }, /a signal is one of/],
      [{ retry: { on_exit_codes: [] } }, /retry.on_exit_codes/],
      [{ retry: { backoff: { initial: '1m', max: '10s' } } }, /backoff.initial must not be longer than backoff.max/],
      [{ retry: { backoff: { initial: 'soon', max: '10s' } } }, /a duration is a number and a unit/],
      [{ on_disconnect: { keep: true, stop_after: '30s' } }, /not both/],
    ] as const) {
      await expect(submit(extra as Partial<CreateJobRequest>)).rejects.toMatchObject({
        status: 400,
        code: 'VALIDATION_FAILED',
        message: expect.stringMatching(message),
      });
    }
  });
});
