import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Job, Task } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { FAKE_GPUS, writeFakeNvidiaSmi } from './fake-nvidia-smi.ts';

const JOBS = 6;

/**
 * Two solders on two four-GPU machines (each with its own fake nvidia-smi) and a real
 * mothership: six jobs of two GPUs each. Four run at once, two per machine on disjoint devices,
 * and the two left wait with a `gpus` reason until devices free up. Every task sees in
 * CUDA_VISIBLE_DEVICES exactly the devices its attempt records.
 */
describe('GPU placement end to end', () => {
  const borg = useTestMothership();
  let dir: string;
  let release: string;
  const solders: InProcessSolder[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-gpu-e2e-'));
    release = join(dir, 'release');
    await mkdir(release);
    await chmod(dir, 0o755);
    for (const box of ['box-a', 'box-b']) {
      const machine = join(dir, box);
      await mkdir(machine);
      await chmod(machine, 0o755);
      const nvidiaSmi = await writeFakeNvidiaSmi(machine);
      solders.push(
        await startSolder(
          borg(),
          { name: box, maxConcurrentTasks: 4, longPollSeconds: 30 },
          { nvidiaSmi: nvidiaSmi.path, gpuSampleIntervalMs: 100 },
        ),
      );
    }
  });

  afterAll(async () => {
    await writeFile(join(release, 'go'), '').catch(() => undefined);
    await Promise.all(solders.map((solder) => solder.stop({ cancelRunning: true })));
    await rm(dir, { recursive: true, force: true });
  });

  it('runs two tasks per machine on disjoint GPUs, holds the rest with a reason, and runs them when GPUs free up', async () => {
    const { admin } = borg();
    const runners = await Promise.all(solders.map((s) => admin.getRunner(s.agent.id)));
    for (const runner of runners) {
      expect(runner.gpus.map((g) => [g.index, g.uuid])).toEqual(FAKE_GPUS.map((g) => [g.index, g.uuid]));
      expect(runner.attributes).toMatchObject({ gpu_count: '4', gpu_model: 'NVIDIA A100-SXM4-80GB' });
    }

    const jobs: Job[] = [];
    for (let i = 0; i < JOBS; i++) {
      jobs.push(
        await admin.createJob({
          name: `train-${i}`,
          type: 'shell',
          command: `echo "seen=$CUDA_VISIBLE_DEVICES nvidia=$NVIDIA_VISIBLE_DEVICES"; while [ ! -e "${release}/go" ]; do sleep 0.05; done`,
          resources: { gpus: 2 },
          unsatisfiable: 'reject',
        }),
      );
    }

    const tasksNow = async () => (await Promise.all(jobs.map((j) => admin.getJob(j.id)))).map((j) => j.tasks.at(-1)!);
    let tasks: Task[] = [];
    await expect
      .poll(async () => (tasks = await tasksNow()).filter((t) => t.status === 'running').length, { timeout: 20_000 })
      .toBe(4);

    const running = tasks.filter((t) => t.status === 'running');
    for (const runner of runners) {
      const onIt = running.filter((t) => t.runner_id === runner.id);
      expect(onIt).toHaveLength(2);
      const indices = onIt.flatMap((t) => t.gpus.map((g) => g.index)).sort();
      expect(indices).toEqual([0, 1, 2, 3]);
    }

    // What each task saw is what its attempt records.
    for (const task of running) {
      const expected = `seen=${task.gpus.map((g) => g.index).join(',')} nvidia=${task.gpus.map((g) => g.uuid).join(',')}`;
      await expect
        .poll(async () => (await admin.getTaskLogs(task.id)).items.map((l) => l.message), { timeout: 10_000 })
        .toContain(expected);
    }

    // The two left wait for GPUs, and say so.
    const waiting = tasks.filter((t) => t.status === 'pending');
    expect(waiting).toHaveLength(2);
    const placement = await admin.getTaskPlacement(waiting[0]!.id);
    expect(placement.runners).toHaveLength(2);
    for (const verdict of placement.runners) {
      expect(verdict.eligible).toBe(false);
      expect(verdict.reasons.join('; ')).toMatch(/^gpus: needs 2, 0 free/);
    }

    await writeFile(join(release, 'go'), '');
    for (const job of jobs) {
      await expect.poll(async () => (await admin.getJob(job.id)).status, { timeout: 30_000 }).toBe('succeeded');
    }
    // Every attempt got two distinct GPUs of its runner.
    for (const task of await tasksNow()) {
      expect(new Set(task.gpus.map((g) => g.index)).size).toBe(2);
    }
  }, 90_000);
});
