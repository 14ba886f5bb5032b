import { randomUUID } from 'node:crypto';

import type { BorgApiError } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../test-mothership.ts';
import { InvariantChecker } from './harness/invariants.ts';

/**
 * F16 (100 runners race for one task, round after round) and F17 (duplicate and out-of-order
 * status reports), each ending with the invariant checker. The N × M race is claim-race.test.ts;
 * F17 (a) and (b) are in task-states.test.ts, F18 in logs.test.ts.
 */
describe('races (F16, F17)', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 1 } });
  const checker = new InvariantChecker(() => borg().db);

  it('100 runners released together on one task, 10 times: one winner each round, 99 empty answers, no error', async () => {
    const labels = { scope: randomUUID() };
    const runners: TestRunner[] = [];
    for (let i = 0; i < 100; i++) runners.push(await borg().registerRunner({ labels, max_concurrent_tasks: 1 }));

    for (let round = 0; round < 10; round++) {
      const job = await borg().admin.createJob({ name: `race-${round}`, type: 'shell', command: 'true', labels });
      // The barrier: every request is built, then all are sent in the same tick.
      let release!: () => void;
      const barrier = new Promise<void>((resolve) => (release = resolve));
      const answers = runners.map(async (runner) => {
        await barrier;
        return runner.client.nextTasks(runner.id, { wait: 0 });
      });
      release();
      const settled = await Promise.allSettled(answers);
      const errors = settled.filter((s) => s.status === 'rejected');
      expect(errors.map((e) => String((e as PromiseRejectedResult).reason))).toEqual([]);
      const winners = settled.flatMap((s, i) =>
        s.status === 'fulfilled' && s.value?.items.length ? [{ runner: runners[i]!, items: s.value.items }] : [],
      );
      expect(winners).toHaveLength(1);
      expect(winners[0]!.items.map((t) => t.job_id)).toEqual([job.id]);
      const tasks = (await borg().admin.getJob(job.id)).tasks;
      expect(tasks).toMatchObject([{ attempt: 1, status: 'assigned', runner_id: winners[0]!.runner.id }]);
      // The winner finishes, so every runner is free again for the next round.
      const { client } = winners[0]!.runner;
      await client.reportTaskStatus(tasks[0]!.id, { status: 'running' });
      await client.reportTaskStatus(tasks[0]!.id, { status: 'succeeded', exit_code: 0 });
    }
    expect(await checker.check()).toEqual([]);
  }, 120_000);

  it('a late `running` after the end, and a report about an attempt the server replaced, change nothing (F17 c, d)', async () => {
    const labels = { scope: randomUUID() };
    const first = await borg().registerRunner({ labels });
    const job = await borg().admin.createJob({
      name: 'f17',
      type: 'shell',
      command: 'true',
      labels,
      max_attempts: 2,
      array_size: 2,
    });
    const [a, b] = (await first.client.nextTasks(first.id, { wait: 0, max: 2 }))?.items ?? [];
    expect(a).toBeDefined();
    await first.client.reportTaskStatus(a!.id, { status: 'running' });
    await first.client.reportTaskStatus(a!.id, { status: 'succeeded', exit_code: 0 });
    const settledA = (await borg().admin.getJob(job.id)).tasks.find((t) => t.id === a!.id);

    // (c) `running` arriving after `succeeded` (reordered on the network): 409, state stays.
    await expect(first.client.reportTaskStatus(a!.id, { status: 'running' })).rejects.toMatchObject({ status: 409 });
    expect((await borg().admin.getJob(job.id)).tasks.find((t) => t.id === a!.id)).toEqual(settledA);

    // (d) the runner restarts (a new session): attempt 1 of element b is lost and attempt 2
    // runs elsewhere; the old session's report about attempt 1 is refused and changes nothing.
    const task = b ?? (await first.client.nextTasks(first.id, { wait: 0 }))!.items[0]!;
    await first.client.reportTaskStatus(task.id, { status: 'running' });
    const oldClient = first.client;
    await borg().registerRunner({ labels, device_id: first.deviceId });
    const second = await borg().registerRunner({ labels });
    const [retry] = (await second.client.nextTasks(second.id, { wait: 0 }))!.items;
    expect(retry).toMatchObject({ index: task.index, attempt: 2 });
    await second.client.reportTaskStatus(retry!.id, { status: 'running' });
    const before = await borg().admin.getJob(job.id);
    const stale = await oldClient.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 }).then(
      () => undefined,
      (e: BorgApiError) => e.status,
    );
    expect([401, 409]).toContain(stale); // its token died with the session; a 409 would do too
    expect(await borg().admin.getJob(job.id)).toEqual(before);
    await second.client.reportTaskStatus(retry!.id, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(job.id)).status).toBe('succeeded');
    expect(await checker.check()).toEqual([]);
  });

  it('a submission retried with its Idempotency-Key creates one job, even when the tries race (F17 e)', async () => {
    const key = `submit-${randomUUID()}`;
    const name = `idempotent-${randomUUID()}`;
    const body = JSON.stringify({ name, type: 'shell', command: 'true', labels: { scope: randomUUID() } });
    const post = (headers: Record<string, string>, payload = body) =>
      rawRequest(borg().url, {
        method: 'POST',
        path: '/api/v1/jobs',
        token: borg().adminToken,
        body: payload,
        headers,
      });

    const first = await post({ 'idempotency-key': key });
    const again = await post({ 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect((again.body as { id: string }).id).toBe((first.body as { id: string }).id);

    const raced = `race-${randomUUID()}`;
    const answers = await Promise.all(Array.from({ length: 8 }, () => post({ 'idempotency-key': raced })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => (a.body as { id: string }).id)).size).toBe(1);
    const { rows } = await borg().db.query<{ n: number }>('SELECT count(*)::integer AS n FROM jobs WHERE name = $1', [
      name,
    ]);
    expect(rows[0]!.n).toBe(2); // the first key's job and the raced key's job

    const other = await post({ 'idempotency-key': key }, body.replace('"true"', '"false"'));
    expect(other.status).toBe(409);
    expect(await post({ 'idempotency-key': 'has space' })).toMatchObject({ status: 400 });
    expect(await checker.check()).toEqual([]);
  });
});
