import { describe, expect, it } from 'vitest';

import { parsePrometheusText, sampleValue } from '../../../test/prometheus-text.ts';
import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * GPU samples travel with heartbeats: the runner keeps each GPU's last one (its page, /metrics,
 * and the free memory a claim judges `gpu_memory_mb` by), and the task holding a GPU keeps all
 * of that GPU's samples for its chart.
 */
describe('GPU telemetry', () => {
  const borg = useTestMothership();

  it('shows each GPU live on its runner, charts them on the task holding them, and exports them', async () => {
    const { admin } = borg();
    const runner = await borg().registerRunner({
      name: 'telemetry-box',
      max_concurrent_tasks: 2,
      capacity: {
        cpu: 8,
        memory_mb: 32_000,
        gpus: [
          { index: 0, uuid: 'GPU-0', model: 'NVIDIA T4', memory_mb: 15_360, memory_free_mb: 15_000 },
          { index: 1, uuid: 'GPU-1', model: 'NVIDIA T4', memory_mb: 15_360, memory_free_mb: 15_000 },
        ],
      },
    });
    await admin.createJob({ name: 'train', type: 'shell', command: 'true', resources: { gpus: 1 } });
    const [task] = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items;
    expect(task!.gpus).toEqual([{ index: 0, uuid: 'GPU-0' }]);

    const t0 = Date.now();
    const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();
    await runner.client.heartbeat(runner.id, {
      task_ids: [task!.id],
      gpus: [
        { index: 0, utilization_pct: 10, memory_used_mb: 1000, memory_free_mb: 14_000, at: at(0) },
        { index: 0, utilization_pct: 90, memory_used_mb: 9000, memory_free_mb: 6000, at: at(5) },
        // Not held by any task: it updates the runner's view only.
        { index: 1, utilization_pct: 0, memory_used_mb: 0, memory_free_mb: 15_000, at: at(5) },
      ],
    });

    const gpus = (await admin.getRunner(runner.id)).gpus;
    expect(gpus.map((g) => [g.index, g.utilization_pct, g.memory_free_mb, g.task_id])).toEqual([
      [0, 90, 6000, task!.id],
      [1, 0, 15_000, null],
    ]);

    const series = await admin.getTaskGpus(task!.id);
    expect(series.items).toEqual([
      {
        index: 0,
        samples: [
          { at: at(0), utilization_pct: 10, memory_used_mb: 1000 },
          { at: at(5), utilization_pct: 90, memory_used_mb: 9000 },
        ],
      },
    ]);

    // GPU 0's last sample says 6000 MB free: a task asking 8000 MB on one GPU gets GPU 1.
    await admin.createJob({
      name: 'needs-8g',
      type: 'shell',
      command: 'true',
      resources: { gpus: 1, gpu_memory_mb: 8000 },
    });
    const [second] = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items;
    expect(second!.gpus).toEqual([{ index: 1, uuid: 'GPU-1' }]);

    const metrics = await rawRequest(borg().url, { path: '/metrics', token: borg().adminToken });
    const samples = parsePrometheusText(metrics.body as string);
    const gpu0 = { runner: 'telemetry-box', gpu: '0' };
    expect(sampleValue(samples, 'borg_gpu_utilization_percent', gpu0)).toBe(90);
    expect(sampleValue(samples, 'borg_gpu_memory_used_megabytes', gpu0)).toBe(9000);
    expect(sampleValue(samples, 'borg_gpu_allocated', gpu0)).toBe(1);
    expect(sampleValue(samples, 'borg_gpu_allocated', { runner: 'telemetry-box', gpu: '1' })).toBe(1);
  });

  it('answers 404 for the GPUs of an unknown task', async () => {
    await expect(borg().admin.getTaskGpus('00000000-0000-0000-0000-000000000000')).rejects.toMatchObject({
      status: 404,
    });
  });
});
