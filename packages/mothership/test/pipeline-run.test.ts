import type { CreateJobRequest, Job, JobWithTasks } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

/**
 * A diamond pipeline on a real solder (issue 16): A → B, A → C, B + C → D, each job's artifacts
 * flowing down to the next as input files (inputs_from), fetched by the solder like any input.
 */
describe('a pipeline run by a real solder', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;
  beforeAll(async () => {
    solder = await startSolder(borg(), { maxConcurrentTasks: 4 });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  const shell = (name: string, command: string, extra: Partial<CreateJobRequest> = {}): CreateJobRequest => ({
    name,
    type: 'shell',
    command,
    artifacts: ['out/**'],
    ...extra,
  });

  const logOf = async (job: JobWithTasks) => {
    const task = job.tasks.at(-1)!;
    const page = await borg().admin.getTaskLogs(task.id, { limit: 100 });
    return page.items.filter((line) => line.stream === 'stdout').map((line) => line.message);
  };

  it('runs A, then B and C, then D, with each upstream artifact in the workspace', async () => {
    const pipeline = await borg().admin.createPipeline({
      name: 'diamond',
      jobs: [
        shell('A', 'mkdir -p out && echo from-a > out/a.txt && echo other > out/b.log'),
        shell('B', 'mkdir -p out && cat in/out/a.txt && ls in/out | wc -l && echo from-b > out/b.txt', {
          inputs_from: [{ name: 'A', path: 'in' }],
        }),
        shell('C', 'mkdir -p out && cat up/out/a.txt && ls up/out | wc -l && echo from-c > out/c.txt', {
          inputs_from: [{ name: 'A', artifacts: 'out/a.*', path: 'up' }],
        }),
        shell('D', 'cat b/out/b.txt c/out/c.txt; find b c -type f | sort | tr "\\n" " "', {
          inputs_from: [
            { name: 'B', path: 'b' },
            { name: 'C', path: 'c' },
          ],
          artifacts: [],
        }),
      ],
    });
    const [a, b, c, d] = (await Promise.all(pipeline.jobs.map((job: Job) => finishedJob(borg(), job.id)))) as [
      JobWithTasks,
      JobWithTasks,
      JobWithTasks,
      JobWithTasks,
    ];
    expect([a, b, c, d].map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    // Each started only after what it depends on had ended.
    const started = (job: JobWithTasks) => Date.parse(job.tasks[0]!.started_at!);
    const ended = (job: JobWithTasks) => Date.parse(job.completed_at!);
    expect(started(b)).toBeGreaterThanOrEqual(ended(a));
    expect(started(c)).toBeGreaterThanOrEqual(ended(a));
    expect(started(d)).toBeGreaterThanOrEqual(Math.max(ended(b), ended(c)));

    expect(await logOf(b)).toEqual(['from-a', '2']);
    expect(await logOf(c)).toEqual(['from-a', '1']);
    // D has B's and C's artifacts, each under its own directory, and nothing of A's.
    expect(await logOf(d)).toEqual(['from-b', 'from-c', 'b/out/b.txt c/out/c.txt ']);
  });

  it('gives element i of an array the artifacts of element i upstream (element: same)', async () => {
    const pipeline = await borg().admin.createPipeline({
      jobs: [
        shell('shards', 'mkdir -p out && echo "shard $BORG_TASK_INDEX" > out/part.txt', { array_size: 3 }),
        shell('per-shard', 'cat up/out/part.txt', {
          array_size: 3,
          artifacts: [],
          inputs_from: [{ name: 'shards', path: 'up', element: 'same' }],
        }),
      ],
    });
    const job = await finishedJob(borg(), pipeline.jobs[1]!.id);
    expect(job.status).toBe('succeeded');
    for (const task of job.tasks) {
      const page = await borg().admin.getTaskLogs(task.id, { limit: 10 });
      expect(page.items.filter((l) => l.stream === 'stdout').map((l) => l.message)).toEqual([`shard ${task.index}`]);
    }
  });
});
