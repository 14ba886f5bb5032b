/**
 * Figure 11, dependency release: a pipeline 1 → 1,000 → 1 (a root job, 1,000 jobs that depend
 * on it, one job that depends on all of them), driven through the runner API by a simulated
 * runner with a long-poll waiting. Fan-out: from the answer to the root's `succeeded` report to
 * the 1,000th middle task claimed. Fan-in: from the answer to the last middle task's report to
 * the last job's task claimed. Reference, in the same run and rounds: the same hand-over without
 * dependencies (POST /jobs answered → claimed by the waiting long-poll), for one job and for one
 * array job of 1,000 elements.
 */
import { BorgClient, type ClaimedTask } from '@borg/protocol';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, scaled } from '../lib/figure.ts';
import { startMothershipProcess } from '../lib/mothership-process.ts';
import { median, round } from '../lib/stats.ts';

const ROUNDS = 3;

interface Runner {
  id: string;
  client: BorgClient;
}

/** Claims with a long-poll until `count` tasks are in hand; the moment the last arrived. */
async function claimAll(runner: Runner, count: number): Promise<{ tasks: ClaimedTask[]; at: number }> {
  const tasks: ClaimedTask[] = [];
  while (tasks.length < count) {
    const answer = await runner.client.nextTasks(runner.id, { wait: 20, max: Math.min(256, count - tasks.length) });
    if (!answer || answer.items.length === 0) throw new Error('fan-out/in benchmark: nothing released within 20 s');
    tasks.push(...answer.items);
  }
  return { tasks, at: performance.now() };
}

/** Reports tasks running then succeeded, `width` at a time. */
async function succeed(runner: Runner, tasks: readonly ClaimedTask[], width = 32): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const task = tasks[next++]!;
        await runner.client.reportTaskStatus(task.id, { status: 'running' });
        await runner.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
      }
    }),
  );
}

/**
 * Reports one task's success with a long-poll already waiting: the ms from the report's answer
 * to `count` tasks claimed, and those tasks.
 */
async function releaseLatency(
  runner: Runner,
  last: ClaimedTask,
  count: number,
): Promise<{ ms: number; tasks: ClaimedTask[] }> {
  await runner.client.reportTaskStatus(last.id, { status: 'running' });
  const claimed = claimAll(runner, count);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the long-poll is in flight
  await runner.client.reportTaskStatus(last.id, { status: 'succeeded', exit_code: 0 });
  const answered = performance.now();
  const { tasks, at } = await claimed;
  return { ms: at - answered, tasks };
}

export const fanOutIn: Figure = {
  figure: 11,
  name: 'fan-out-in',
  async run() {
    const width = scaled(1000, 10);
    const database = await createBenchDatabase('fan_out_in');
    const mothership = await startMothershipProcess({ databaseUrl: database.url });
    try {
      const registered = await new BorgClient({
        baseUrl: mothership.url,
        token: mothership.registrationToken,
      }).register({
        device_id: 'fan-bench',
        name: 'fan-bench',
        hostname: 'bench',
        os: 'linux',
        arch: 'x64',
        max_concurrent_tasks: width + 10,
        labels: {},
        resources: {},
      });
      const runner: Runner = {
        id: registered.id,
        client: new BorgClient({ baseUrl: mothership.url, token: registered.token }),
      };
      const heartbeat = setInterval(() => {
        runner.client.heartbeat(runner.id, { status: 'busy' }).catch(() => undefined);
      }, 10_000);
      const samples = { fanOut: [] as number[], fanIn: [] as number[], one: [] as number[], array: [] as number[] };
      const createMs: number[] = [];
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const created = performance.now();
          await mothership.admin.createPipeline({
            name: `fan-${round}`,
            jobs: [
              { name: 'root', type: 'shell', command: 'true' },
              ...Array.from({ length: width }, (_, i) => ({
                name: `mid-${i}`,
                type: 'shell' as const,
                command: 'true',
                depends_on: [{ name: 'root' }],
              })),
              {
                name: 'sink',
                type: 'shell',
                command: 'true',
                depends_on: Array.from({ length: width }, (_, i) => ({ name: `mid-${i}` })),
              },
            ],
          });
          createMs.push(performance.now() - created);
          const [root] = (await claimAll(runner, 1)).tasks;
          const fanOut = await releaseLatency(runner, root!, width);
          samples.fanOut.push(fanOut.ms);
          await succeed(runner, fanOut.tasks.slice(0, -1));
          const fanIn = await releaseLatency(runner, fanOut.tasks.at(-1)!, 1);
          samples.fanIn.push(fanIn.ms);
          await succeed(runner, fanIn.tasks);

          // The reference: the same hand-over without dependencies.
          const one = claimAll(runner, 1);
          await new Promise((resolve) => setTimeout(resolve, 50));
          await mothership.admin.createJob({ name: `one-${round}`, type: 'shell', command: 'true' });
          const oneAnswered = performance.now();
          const oneClaim = await one;
          samples.one.push(oneClaim.at - oneAnswered);
          await succeed(runner, oneClaim.tasks);
          const array = claimAll(runner, width);
          await new Promise((resolve) => setTimeout(resolve, 50));
          await mothership.admin.createJob({
            name: `array-${round}`,
            type: 'shell',
            command: 'true',
            array_size: width,
          });
          const arrayAnswered = performance.now();
          const arrayClaim = await array;
          samples.array.push(arrayClaim.at - arrayAnswered);
          await succeed(runner, arrayClaim.tasks);
        }
      } finally {
        clearInterval(heartbeat);
      }
      const fanOut = round(median(samples.fanOut), 1);
      const fanIn = round(median(samples.fanIn), 1);
      const one = round(median(samples.one), 1);
      const array = round(median(samples.array), 1);
      return {
        figure: 11,
        name: 'fan-out-in',
        title: `dependency release, 1 → ${width} → 1 (PostgreSQL)`,
        borg: `fan-out ${fanOut} ms to release and claim ${width} jobs; fan-in ${fanIn} ms to release and claim the last job`,
        reference: `no dependency: one job submitted → claimed ${one} ms; a ${width}-element array ${array} ms`,
        ratio: `time taken: fan-out ${(fanOut / array).toFixed(2)}× the array's, fan-in ${(fanIn / one).toFixed(2)}× one job's`,
        goal: 'reported: one statement per upstream ending (no goal set)',
        met: null,
        scale: `${ROUNDS} rounds, medians; the pipeline of ${width + 2} jobs submitted in ${round(median(createMs) / 1000, 2)} s`,
        details: { samples, create_ms: createMs },
      };
    } finally {
      await mothership.stop();
      await database.drop();
    }
  },
};
