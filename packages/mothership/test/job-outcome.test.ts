import { randomUUID } from 'node:crypto';

import type { TaskStatusRequest } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
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
