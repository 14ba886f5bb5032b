import { randomUUID } from 'node:crypto';

import type { ClaimedTask, TaskStatusRequest } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { OUTCOME_ELEMENT_LIMIT } from '../src/jobs/job-outcome-store.ts';
import { registerRunner } from './register-runner.ts';

type Runner = Awaited<ReturnType<typeof registerRunner>>;

/** Claims one task of the runner's and ends it with `ending`; answers the task's index. */
async function runOne(runner: Runner, ending: TaskStatusRequest): Promise<number> {
  const task = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items[0]!;
  await runner.client.reportTaskStatus(task.id, { status: 'running' });
  await runner.client.reportTaskStatus(task.id, ending);
  return task.index;
}

describe("a job's outcome in the jobs list", () => {
  const borg = useTestMothership();

  it('names the runner that ran a job, also once the runner is deleted', async () => {
    const labels = { suite: randomUUID() };
    const runner = await registerRunner(borg(), `named-${labels.suite.slice(0, 8)}`, { labels });
    const job = await borg().admin.createJob({ name: 'ran', type: 'shell', command: 'true', labels });
    expect((await borg().admin.getJob(job.id)).outcome).toEqual({ runners: [], runner_count: 0, failure: null });
    await runOne(runner, { status: 'succeeded', exit_code: 0 });

    const listed = (await borg().admin.listJobs({ label: `suite=${labels.suite}` })).items;
    expect(listed.map((j) => j.outcome)).toEqual([
      {
        runners: [{ id: runner.id, name: `named-${labels.suite.slice(0, 8)}`, deleted: false }],
        runner_count: 1,
        failure: null,
      },
    ]);
    await borg().admin.deleteRunner(runner.id);
    expect((await borg().admin.getJob(job.id)).outcome.runners).toEqual([
      { id: runner.id, name: `named-${labels.suite.slice(0, 8)}`, deleted: true },
    ]);
  });

  it("gives a failed array job's first failing element and its runners in element order", async () => {
    const labels = { suite: randomUUID() };
    const first = await registerRunner(borg(), 'outcome-first', { labels });
    const second = await registerRunner(borg(), 'outcome-second', { labels });
    const job = await borg().admin.createJob({
      name: 'array',
      type: 'shell',
      command: 'true',
      labels,
      array_size: 4,
    });
    // Elements 0 and 2 on the first runner, 1 and 3 on the second; 3 exits 3, then 2 exits 7.
    await runOne(first, { status: 'succeeded', exit_code: 0 });
    await runOne(second, { status: 'succeeded', exit_code: 0 });
    const endings = new Map<number, TaskStatusRequest>([
      [2, { status: 'failed', exit_code: 7 }],
      [3, { status: 'failed', exit_code: 3, error: 'boom' }],
    ]);
    const later = await Promise.all([first, second].map((r) => r.client.nextTasks(r.id, { wait: 0, max: 1 })));
    for (const [i, runner] of [first, second].entries()) {
      const task = later[i]!.items[0]!;
      await runner.client.reportTaskStatus(task.id, { status: 'running' });
      await runner.client.reportTaskStatus(task.id, endings.get(task.index)!);
    }

    const [listed] = (await borg().admin.listJobs({ label: `suite=${labels.suite}`, status: 'failed' })).items;
    expect(listed?.id).toBe(job.id);
    expect(listed!.outcome.failure).toEqual({
      index: 2,
      attempt: 1,
      status: 'failed',
      exit_code: 7,
      reason: null,
      error: null,
    });
    expect(listed!.outcome.runners.map((r) => r.name)).toEqual(['outcome-first', 'outcome-second']);
    expect(listed!.outcome.runner_count).toBe(2);
  });

  it('names at most three runners and counts the rest', async () => {
    const labels = { suite: randomUUID() };
    const runners = await Promise.all([0, 1, 2, 3, 4].map((n) => registerRunner(borg(), `many-${n}`, { labels })));
    await borg().admin.createJob({ name: 'wide', type: 'shell', command: 'true', labels, array_size: 5 });
    for (const runner of runners) await runOne(runner, { status: 'succeeded', exit_code: 0 });

    const [listed] = (await borg().admin.listJobs({ label: `suite=${labels.suite}` })).items;
    expect(listed!.status).toBe('succeeded');
    expect(listed!.outcome.runners.map((r) => r.name)).toEqual(['many-0', 'many-1', 'many-2']);
    expect(listed!.outcome.runner_count).toBe(5);
    expect(listed!.outcome.failure).toBeNull();
  });
});

describe("a job's outcome: retried elements and the element cap", () => {
  const borg = useTestMothership();

  it("reports a retried element's latest attempt: its runner and its failure, not the first attempt's", async () => {
    const labels = { suite: randomUUID() };
    const first = await registerRunner(borg(), 'retry-first', { labels });
    const second = await registerRunner(borg(), 'retry-second', { labels });
    await borg().admin.createJob({
      name: 'retried',
      type: 'shell',
      command: 'exit 1',
      labels,
      max_attempts: 2,
    });
    await runOne(first, { status: 'failed', exit_code: 5, error: 'first try' });
    // The test mothership retries at once (no backoff): the second attempt is claimable now.
    let task: ClaimedTask | undefined;
    await expect
      .poll(async () => (task ??= (await second.client.nextTasks(second.id, { wait: 0, max: 1 }))?.items[0]))
      .toMatchObject({ index: 0, attempt: 2 });
    await second.client.reportTaskStatus(task!.id, { status: 'running' });
    await second.client.reportTaskStatus(task!.id, { status: 'failed', exit_code: 9, error: 'second try' });

    const [listed] = (await borg().admin.listJobs({ label: `suite=${labels.suite}` })).items;
    expect(listed!.status).toBe('failed');
    expect(listed!.outcome).toEqual({
      runners: [{ id: second.id, name: 'retry-second', deleted: false }],
      runner_count: 1,
      failure: { index: 0, attempt: 2, status: 'failed', exit_code: 9, reason: null, error: 'second try' },
    });
  });

  /**
   * A 257-element job: elements 0–254 on one runner, 255 (the last one read) on a second, 256
   * (the first one past OUTCOME_ELEMENT_LIMIT) on a third. The list names and counts the first
   * two only: a larger cap (or none) would add the third, a smaller one drop the second.
   */
  async function acrossTheCap() {
    const labels = { suite: randomUUID() };
    const bulk = await registerRunner(borg(), 'cap-bulk', { labels, max_concurrent_tasks: 255 });
    const edge = await registerRunner(borg(), 'cap-edge', { labels });
    const past = await registerRunner(borg(), 'cap-past', { labels });
    await borg().admin.createJob({ name: 'cap', type: 'shell', command: 'true', labels, array_size: 257 });
    const claimed = (await bulk.client.nextTasks(bulk.id, { wait: 0, max: 255 }))!.items;
    expect(claimed.map((t) => t.index)).toEqual([...Array(255).keys()]);
    expect((await edge.client.nextTasks(edge.id, { wait: 0, max: 1 }))!.items.map((t) => t.index)).toEqual([255]);
    expect((await past.client.nextTasks(past.id, { wait: 0, max: 1 }))!.items.map((t) => t.index)).toEqual([256]);
    const [listed] = (await borg().admin.listJobs({ label: `suite=${labels.suite}` })).items;
    return listed!.outcome;
  }

  it(`names runners from the job's first ${OUTCOME_ELEMENT_LIMIT} elements only`, async () => {
    const outcome = await acrossTheCap();
    expect(outcome.runners.map((r) => r.name)).toEqual(['cap-bulk', 'cap-edge']);
  });

  it(`counts the distinct runners of the first ${OUTCOME_ELEMENT_LIMIT} elements in runner_count, each once`, async () => {
    const outcome = await acrossTheCap();
    expect(outcome.runner_count).toBe(2);
  });
});
