/**
 * Figure 4, enqueue: jobs submitted through the API one per request (8 clients in parallel), and
 * in bulk (array jobs: one request creates up to 10,000 tasks); reference: graphile-worker's
 * `addJobs`, one call per 5,000 jobs, on the same PostgreSQL.
 */
import { Pool } from 'undici';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, ratioText, scaled } from '../lib/figure.ts';
import { installGraphile, quietLogger } from '../lib/graphile.ts';
import { startMothershipProcess } from '../lib/mothership-process.ts';
import { inParallel, median, round } from '../lib/stats.ts';

const ROUNDS = 3;
const CLIENTS = 8;

export const enqueue: Figure = {
  figure: 4,
  name: 'enqueue',
  async run() {
    const count = scaled(20_000, 200);
    const singleCount = scaled(5_000, 100);
    const borgDb = await createBenchDatabase('enqueue_borg');
    const graphileDb = await createBenchDatabase('enqueue_graphile');
    const mothership = await startMothershipProcess({ databaseUrl: borgDb.url });
    const pool = new Pool(mothership.url, { connections: CLIENTS, pipelining: 1 });
    const single: number[] = [];
    const bulk: number[] = [];
    const graphile: number[] = [];
    await installGraphile(graphileDb.url);
    const { makeWorkerUtils } = await import('graphile-worker');
    const utils = await makeWorkerUtils({ connectionString: graphileDb.url, logger: quietLogger });
    try {
      const body = JSON.stringify({ name: 'enqueue', type: 'shell', command: 'true' });
      for (let r = 0; r < ROUNDS; r++) {
        let started = performance.now();
        await inParallel(singleCount, CLIENTS, async () => {
          const response = await pool.request({
            method: 'POST',
            path: '/api/v1/jobs',
            headers: { authorization: `Bearer ${mothership.adminToken}`, 'content-type': 'application/json' },
            body,
          });
          await response.body.text();
          if (response.statusCode !== 201) throw new Error(`POST /jobs: ${response.statusCode}`);
        });
        single.push(singleCount / ((performance.now() - started) / 1000));

        started = performance.now();
        for (let done = 0; done < count; done += 10_000) {
          const size = Math.min(10_000, count - done);
          await mothership.admin.createJob({ name: `bulk-${r}`, type: 'shell', command: 'true', array_size: size });
        }
        bulk.push(count / ((performance.now() - started) / 1000));

        started = performance.now();
        for (let done = 0; done < count; done += 5_000) {
          await utils.addJobs(
            Array.from({ length: Math.min(5_000, count - done) }, (_, i) => ({ identifier: 'noop', payload: { i } })),
          );
        }
        graphile.push(count / ((performance.now() - started) / 1000));
      }
    } finally {
      await utils.release();
      await pool.destroy();
      await mothership.stop();
      await borgDb.drop();
      await graphileDb.drop();
    }
    const [s, b, g] = [median(single), median(bulk), median(graphile)];
    return {
      figure: 4,
      name: 'enqueue',
      title: 'enqueue (PostgreSQL)',
      borg: `bulk (array jobs of ≤ 10,000): ${round(b)} tasks/s; single POST /jobs × ${CLIENTS} clients: ${round(s)} jobs/s`,
      reference: `graphile addJobs: ${round(g)} jobs/s`,
      ratio: `bulk ${ratioText(b / g, 'graphile')}; single ${ratioText(s / g, 'graphile')}`,
      goal: '≥ 1.0× graphile addJobs (bulk)',
      met: b / g >= 1,
      scale: `${ROUNDS} rounds: ${count} tasks in bulk and ${singleCount} single submits per round`,
      details: {
        single_jobs_per_s: single.map((x) => round(x)),
        bulk_tasks_per_s: bulk.map((x) => round(x)),
        graphile_jobs_per_s: graphile.map((x) => round(x)),
      },
    };
  },
};
