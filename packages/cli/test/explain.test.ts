import type { TaskPlacement } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, useTempDir } from './borg-cli.ts';

describe('borg submit with placement flags, and borg explain', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());

  it('refuses a job no runner could ever take, listing each runner with what it lacks', async () => {
    await mothership().registerRunner({ name: 'box', labels: { os: 'linux' } });
    const [refused, badCpu, lonelyGpuMemory] = await Promise.all([
      borg(['submit', '--label', 'os=darwin', '--', 'true'], { env: env() }),
      borg(['submit', '--cpu', 'two', '--', 'true'], { env: env() }),
      borg(['submit', '--gpu-memory', '1000', '--', 'true'], { env: env() }),
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('box  label os: wants darwin, has linux\n');
    expect(refused.stderr).toMatch(/borg: no runner could ever take this job: .*--queue-unsatisfiable/);
    expect((await mothership().admin.listJobs({})).items).toEqual([]);
    expect(badCpu.code).toBe(2);
    expect(badCpu.stderr).toContain('--cpu "two" is not a number');
    expect(lonelyGpuMemory.code).toBe(2);
    expect(lonelyGpuMemory.stderr).toContain('give --gpus too');
  });

  it('queues it with --queue-unsatisfiable, sending the requests and constraints; explain says why it waits', async () => {
    const submitted = await borg(
      [
        'submit',
        '--queue-unsatisfiable',
        '--label',
        'os=darwin',
        '--cpu',
        '0.5',
        '--memory',
        '512',
        '--gpus',
        '1',
        '--gpu-memory',
        '1000',
        '--constraint',
        'zone exists',
        '--',
        'true',
      ],
      { env: env() },
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = await mothership().admin.getJob(submitted.stdout.trim());
    expect(job).toMatchObject({
      resources: { cpu: 0.5, memory_mb: 512, gpus: 1, gpu_memory_mb: 1000 },
      constraints: ['zone exists'],
      unsatisfiable: true,
    });

    const [byJob, byTask] = await Promise.all([
      borg(['explain', job.id], { env: env() }),
      borg(['explain', job.tasks[0]!.id, '-o', 'json'], { env: env() }),
    ]);
    expect(byJob.code, byJob.stderr).toBe(0);
    expect(byJob.stdout).toMatch(/^position: +1$/m);
    expect(byJob.stdout).toMatch(/^estimated wait: +unknown/m);
    expect(byJob.stdout).toContain(
      '  box  label os: wants darwin, has linux; constraint zone exists: has none; cpu: needs 0.5, 0 free; ' +
        'memory: needs 512 MB, 0 free; gpus: needs 1, 0 free\n',
    );
    expect(byTask.code, byTask.stderr).toBe(0);
    const placement = JSON.parse(byTask.stdout) as TaskPlacement;
    expect(placement).toMatchObject({ task_id: job.tasks[0]!.id, status: 'pending', position: 1 });
    expect(placement.runners.map((r) => r.runner_name)).toEqual(['box']);

    const shown = await borg(['jobs', 'show', job.id], { env: env() });
    expect(shown.stdout).toMatch(/^status: +queued \(no runner could take it at submit\)$/m);
    expect(shown.stdout).toMatch(/^resources: +cpu=0\.5 memory_mb=512 gpus=1 gpu_memory_mb=1000$/m);
    expect(shown.stdout).toMatch(/^constraints: +zone exists$/m);
  });

  it("shows a runner's capacity and GPUs, and the GPUs each attempt got", async () => {
    const runner = await mothership().registerRunner({
      name: 'gpu-box',
      max_concurrent_tasks: 2,
      capacity: {
        cpu: 8,
        memory_mb: 16_000,
        gpus: [
          { index: 0, uuid: 'GPU-a', model: 'NVIDIA L4', memory_mb: 23_034 },
          { index: 1, uuid: 'GPU-b', model: 'NVIDIA L4', memory_mb: 23_034 },
        ],
      },
    });
    const job = await mothership().admin.createJob({
      name: 'one-gpu',
      command: 'true',
      resources: { gpus: 1, cpu: 2 },
    });
    const [task] = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items;
    expect(task!.job_id).toBe(job.id);

    const [shownRunner, shownJob] = await Promise.all([
      borg(['runners', 'show', runner.id], { env: env() }),
      borg(['jobs', 'show', job.id], { env: env() }),
    ]);
    expect(shownRunner.stdout).toMatch(/^capacity: +2 of 8 CPUs, 0 of 16000 MB held$/m);
    expect(shownRunner.stdout).toMatch(new RegExp(`^gpu 0: +NVIDIA L4, 23034 MB, held by task ${task!.id}$`, 'm'));
    expect(shownRunner.stdout).toMatch(/^gpu 1: +NVIDIA L4, 23034 MB, free$/m);
    expect(shownJob.stdout).toMatch(/ GPUS /);
    expect(shownJob.stdout).toMatch(new RegExp(`${task!.id} +assigned .* 0 `));
  });
});
