import type { ElementsChanged, Job } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, useTempDir } from './borg-cli.ts';

describe('borg and array jobs under control', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());

  /** Runs every element of a job on a runner of its own: those in `failing` exit 1. */
  async function runAll(job: Job, failing: number[]): Promise<void> {
    const runner = await mothership().registerRunner({ max_concurrent_tasks: 100, labels: job.labels });
    const answer = await runner.client.nextTasks(runner.id, { wait: 0, max: 100 });
    for (const task of answer?.items ?? []) {
      await runner.client.reportTaskStatus(task.id, { status: 'running' });
      await runner.client.reportTaskStatus(
        task.id,
        failing.includes(task.index) ? { status: 'failed', exit_code: 1 } : { status: 'succeeded', exit_code: 0 },
      );
    }
  }

  it('submits with --max-parallel and changes it with jobs set', async () => {
    const submitted = await borg(
      [
        'submit',
        '--array',
        '4',
        '--max-parallel',
        '2',
        '--label',
        'pool=nowhere',
        '--queue-unsatisfiable',
        '--',
        'true',
      ],
      { env: env() },
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = /[0-9a-f-]{36}/.exec(submitted.stdout)![0];
    expect((await mothership().admin.getJob(id)).max_parallel).toBe(2);

    const raised = await borg(['jobs', 'set', id.slice(0, 8), '--max-parallel', '5'], { env: env() });
    expect(raised.stdout).toBe(`job ${id}: max parallel 5; queued\n`);
    const shown = await borg(['jobs', 'show', id], { env: env() });
    expect(shown.stdout).toMatch(/max parallel:\s+5/);
    const lifted = await borg(['jobs', 'set', id, '--max-parallel', 'none', '-o', 'json'], { env: env() });
    expect((JSON.parse(lifted.stdout) as Job).max_parallel).toBeNull();

    for (const bad of ['0', '10001', 'lots']) {
      const refused = await borg(['jobs', 'set', id, '--max-parallel', bad], { env: env() });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('--max-parallel');
    }
    expect((await borg(['submit', '--max-parallel', '0', '--', 'true'], { env: env() })).code).toBe(2);
  });

  it('retries chosen or failed elements and cancels chosen ones', async () => {
    const job = await mothership().admin.createJob({
      name: 'sweep',
      type: 'shell',
      command: 'true',
      array_size: 12,
      labels: { pool: 'array-cli' },
    });
    await runAll(job, [1, 4, 5, 9]);

    const one = await borg(['jobs', 'retry', job.id, '--element', '4'], { env: env() });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toBe(`job ${job.id}: retried 1 element (4); job running\n`);

    const failed = await borg(['jobs', 'retry', job.id, '--failed', '-o', 'json'], { env: env() });
    expect((JSON.parse(failed.stdout) as ElementsChanged).indexes).toEqual([1, 5, 9]);

    const cancelled = await borg(['jobs', 'cancel', job.id, '--element', '1', '--element', '4-5,11'], { env: env() });
    expect(cancelled.stdout).toBe(
      `job ${job.id}: cancelled 3 elements (1, 4, 5); 1 skipped (not in a state to cancel); job running\n`,
    );

    const nothing = await borg(['jobs', 'retry', job.id, '--element', '0'], { env: env() });
    expect(nothing.code).toBe(6);
    expect(nothing.stderr).toContain('none of the selected elements has ended without succeeding');
    const beyond = await borg(['jobs', 'retry', job.id, '--element', '12'], { env: env() });
    expect(beyond.stderr).toContain(`job ${job.id} has no element 12: its elements are 0 to 11`);

    for (const args of [
      ['jobs', 'retry', job.id, job.id, '--failed'],
      ['jobs', 'retry', job.id, '--element', 'x'],
      ['jobs', 'retry', job.id, '--element', '5-3'],
      ['jobs', 'retry', job.id, '--element', '1', '--failed'],
    ]) {
      expect((await borg(args, { env: env() })).code).toBe(2);
    }
  });
});
