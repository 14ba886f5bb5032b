/**
 * Figure 2, queue path throughput: no-op tasks drained through the runner API by simulated
 * runners that claim several tasks per call and report them in batches (running, then
 * succeeded), as a solder does. Reference: graphile-worker draining as many no-op jobs in batched mode (local
 * queue, batched completions) on the same PostgreSQL. Queues are filled before the clock starts.
 */
import { Pool } from 'undici';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, ratioText, scaled } from '../lib/figure.ts';
import { installGraphile, startGraphile } from '../lib/graphile.ts';
import { type MothershipProcess, startMothershipProcess } from '../lib/mothership-process.ts';
import { median, round, sleep } from '../lib/stats.ts';

const ROUNDS = 2;
const RUNNERS = 8;
/** Tasks one claim may take (the runner's capacity). */
const CLAIM_MAX = 50;
const GRAPHILE_CONCURRENCY = 16;

interface SimRunner {
  id: string;
  token: string;
}

async function call(pool: Pool, method: 'GET' | 'POST', path: string, token: string, body?: unknown) {
  const response = await pool.request({
    method,
    path,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`);
  return text ? (JSON.parse(text) as unknown) : null;
}

/** Fills the queue with `count` no-op tasks as array jobs (not timed). */
async function fillBorg(mothership: MothershipProcess, count: number, round: number): Promise<void> {
  for (let done = 0; done < count;) {
    const size = Math.min(10_000, count - done);
    await mothership.admin.createJob({
      name: `noop-${round}-${done}`,
      type: 'shell',
      command: 'true',
      array_size: size,
    });
    done += size;
  }
}

/** Heartbeats every 10 s, as a solder does: a runner silent for three intervals is offline and claims nothing. */
function keepAlive(pool: Pool, runners: SimRunner[]): NodeJS.Timeout {
  return setInterval(() => {
    for (const runner of runners) {
      call(pool, 'POST', `/api/v1/runners/${runner.id}/heartbeat`, runner.token, { status: 'busy' }).catch(
        () => undefined,
      );
    }
  }, 10_000);
}

async function drainBorg(pool: Pool, runners: SimRunner[], count: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  await Promise.all(
    runners.map(async (runner) => {
      while (done < count) {
        const answer = (await call(
          pool,
          'GET',
          `/api/v1/runners/${runner.id}/tasks/next?wait=0&max=${CLAIM_MAX}`,
          runner.token,
        )) as {
          items: Array<{ id: string }>;
        } | null;
        if (!answer || answer.items.length === 0) {
          await sleep(5);
          continue;
        }
        // As a solder reports tasks started and ended together: one batch of `running`, then one
        // of endings (status-reports.ts).
        const path = `/api/v1/runners/${runner.id}/tasks/status`;
        const running = answer.items.map((task) => ({ task_id: task.id, status: 'running' }));
        await call(pool, 'POST', path, runner.token, { reports: running });
        const ended = answer.items.map((task) => ({ task_id: task.id, status: 'succeeded', exit_code: 0 }));
        await call(pool, 'POST', path, runner.token, { reports: ended });
        done += answer.items.length;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

export const queueThroughput: Figure = {
  figure: 2,
  name: 'queue',
  async run() {
    const perRound = scaled(5_000, 100);
    const borgDb = await createBenchDatabase('queue_borg');
    const graphileDb = await createBenchDatabase('queue_graphile');
    const mothership = await startMothershipProcess({ databaseUrl: borgDb.url });
    const pool = new Pool(mothership.url, { connections: RUNNERS * CLAIM_MAX + 8, pipelining: 1 });
    const borgRates: number[] = [];
    const graphileRates: number[] = [];
    let heartbeats: NodeJS.Timeout | undefined;
    try {
      const runners: SimRunner[] = [];
      for (let i = 0; i < RUNNERS; i++) {
        const registered = (await call(pool, 'POST', '/api/v1/runners/register', mothership.registrationToken, {
          device_id: `queue-bench-${i}`,
          name: `queue-bench-${i}`,
          hostname: 'bench',
          os: 'linux',
          arch: 'x64',
          max_concurrent_tasks: CLAIM_MAX,
          labels: {},
          resources: {},
        })) as { id: string; token: string };
        runners.push({ id: registered.id, token: registered.token });
      }
      heartbeats = keepAlive(pool, runners);
      await installGraphile(graphileDb.url);
      const { makeWorkerUtils } = await import('graphile-worker');
      const utils = await makeWorkerUtils({
        connectionString: graphileDb.url,
        logger: (await import('../lib/graphile.ts')).quietLogger,
      });
      try {
        for (let round = 0; round < ROUNDS; round++) {
          await fillBorg(mothership, perRound, round);
          borgRates.push(await drainBorg(pool, runners, perRound));

          for (let done = 0; done < perRound; done += 5_000) {
            await utils.addJobs(
              Array.from({ length: Math.min(5_000, perRound - done) }, (_, i) => ({
                identifier: 'noop',
                payload: { i },
              })),
            );
          }
          let handled = 0;
          let allHandled!: () => void;
          const finished = new Promise<void>((resolve) => (allHandled = resolve));
          const started = performance.now();
          const worker = await startGraphile({
            connectionString: graphileDb.url,
            concurrency: GRAPHILE_CONCURRENCY,
            batched: true,
            taskList: {
              noop: async () => {
                if (++handled === perRound) allHandled();
              },
            },
          });
          await finished;
          graphileRates.push(perRound / ((performance.now() - started) / 1000));
          await worker.stop();
        }
      } finally {
        await utils.release();
      }
    } finally {
      clearInterval(heartbeats);
      await pool.destroy();
      await mothership.stop();
      await borgDb.drop();
      await graphileDb.drop();
    }
    const borg = median(borgRates);
    const reference = median(graphileRates);
    return {
      figure: 2,
      name: 'queue',
      title: 'queue path throughput (PostgreSQL)',
      borg: `${round(borg)} tasks/s (claim ≤ ${CLAIM_MAX} per call; one batch of running, one of succeeded per claim)`,
      reference: `graphile batched: ${round(reference)} jobs/s`,
      ratio: ratioText(borg / reference, 'graphile'),
      goal: '≥ 0.3× graphile (issue 18); the moonshot 1.0×',
      met: borg / reference >= 0.3,
      scale: `${ROUNDS} rounds of ${perRound} tasks (${ROUNDS * perRound} in all) each, ${RUNNERS} runners; graphile concurrency ${GRAPHILE_CONCURRENCY}`,
      details: {
        borg_tasks_per_s: borgRates.map((r) => round(r)),
        graphile_jobs_per_s: graphileRates.map((r) => round(r)),
      },
    };
  },
};
