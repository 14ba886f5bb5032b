/**
 * Figure 8, list at scale: `GET /api/v1/jobs` (the first page, a page filtered by status and
 * label, and a name search that 11 jobs match) with JOBS jobs in the database, REQUESTS times
 * each after a warm-up, p95 of each.
 * Reference: the same SQL (jobStore.list, then the page's files and outcomes) run straight on the
 * database with `pg`, as psql would, timed the same way. The jobs are written with one
 * generate_series INSERT, spread over 30 days, 90 % succeeded, 5 % failed, 10 label values
 * independent of the status (failed + one label: 0.5 %), then one attempt each on one of 8
 * runners (the outcome's runner names and a failed job's exit code read them).
 */
import pg from 'pg';

import { PgDatabase } from '../../packages/mothership/src/db/pg-database.ts';
import { jobOutcomeStore } from '../../packages/mothership/src/jobs/job-outcome-store.ts';
import { jobStore } from '../../packages/mothership/src/jobs/job-store.ts';
import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, scaled } from '../lib/figure.ts';
import { startMothershipProcess } from '../lib/mothership-process.ts';
import { quantile, round, sorted } from '../lib/stats.ts';

const REQUESTS = 100;
const WARM_UP = 10;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARM_UP; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  return round(quantile(sorted(times), 0.95));
}

export const listAtScale: Figure = {
  figure: 8,
  name: 'list',
  async run() {
    const jobs = scaled(1_000_000, 10_000);
    const database = await createBenchDatabase('list');
    const mothership = await startMothershipProcess({ databaseUrl: database.url });
    const db = new PgDatabase({ connectionString: database.url });
    try {
      const fill = new pg.Client({ connectionString: database.url });
      await fill.connect();
      const filledAt = performance.now();
      await fill.query(
        `INSERT INTO jobs (name, type, command, labels, status, created_at, updated_at, started_at, completed_at)
         SELECT 'job-' || i, 'shell', '"true"'::jsonb, jsonb_build_object('team', 't' || ((i / 20) % 10)),
                CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 50 = 1 THEN 'running' WHEN i % 50 = 2 THEN 'queued'
                     ELSE 'succeeded' END,
                t, t, t, t
           FROM (SELECT i, now() - make_interval(secs => ($1::integer - i) * (2592000.0 / $1::integer)) AS t
                   FROM generate_series(1, $1::integer) AS i) g`,
        [jobs],
      );
      // One attempt per job, on one of 8 runners (the list's outcome reads them): ended as its
      // job did, live for running and queued jobs. The runners' heartbeats lie in the future,
      // so the reaper never takes their running tasks away during the run.
      await fill.query(
        `INSERT INTO runners (device_id, name, max_concurrent_tasks, last_heartbeat)
         SELECT 'bench-' || n, 'bench-runner-' || n, 4, now() + interval '1 day' FROM generate_series(0, 7) AS n`,
      );
      await fill.query(
        `WITH r AS (SELECT array_agg(id ORDER BY name) AS ids FROM runners)
         INSERT INTO tasks (job_id, index, attempt, status, priority, labels, runner_id, exit_code, created_at)
         SELECT j.id, 0, 1, CASE j.status WHEN 'queued' THEN 'pending' ELSE j.status END, 0, '{}'::jsonb,
                CASE WHEN j.status <> 'queued' THEN r.ids[1 + (hashtext(j.id::text) & 7)] END,
                CASE j.status WHEN 'failed' THEN 3 WHEN 'succeeded' THEN 0 END, j.created_at
           FROM jobs j, r`,
      );
      await fill.query('ANALYZE jobs');
      await fill.query('ANALYZE tasks');
      const fillSeconds = (performance.now() - filledAt) / 1000;
      const filteredPlan = await fill.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM jobs j WHERE j.status = $1 AND j.labels @> $2::jsonb
          ORDER BY j.created_at DESC, j.id DESC LIMIT 51`,
        ['failed', JSON.stringify({ team: 't3' })],
      );
      await fill.end();

      const firstPageApi = await timed(() => mothership.admin.listJobs({ limit: 50 }));
      const filteredApi = await timed(() =>
        mothership.admin.listJobs({ limit: 50, status: 'failed', label: 'team=t3' }),
      );
      // Names are job-1 … job-N: this matches job-M and job-M0 … job-M9 (M = (N - 1) / 10).
      const nameSearch = `job-${Math.floor((jobs - 1) / 10)}`;
      const searchApi = await timed(() => mothership.admin.listJobs({ limit: 50, q: nameSearch }));
      const viaSql = async (filter: Parameters<typeof jobStore.list>[1]) => {
        const rows = await jobStore.list(db, filter);
        const ids = rows.map((r) => r.id);
        await jobStore.filesOf(db, ids);
        await jobOutcomeStore.of(
          db,
          ids,
          rows.filter((r) => r.status === 'failed').map((r) => r.id),
        );
      };
      const firstPageSql = await timed(() => viaSql({ limit: 51 }));
      const filteredSql = await timed(() =>
        viaSql({ limit: 51, statuses: ['failed'], label: { key: 'team', value: 't3' } }),
      );
      const searchSql = await timed(() => viaSql({ limit: 51, nameContains: nameSearch }));
      const worst = Math.max(firstPageApi, filteredApi, searchApi);
      return {
        figure: 8,
        name: 'list',
        title: `list at scale (${jobs.toLocaleString('en')} jobs)`,
        borg: `GET /jobs p95: first page ${firstPageApi} ms, filtered (status + label) ${filteredApi} ms, name search ${searchApi} ms`,
        reference: `same SQL with pg p95: ${firstPageSql} ms, ${filteredSql} ms, ${searchSql} ms`,
        ratio: `${(firstPageApi / firstPageSql).toFixed(1)}×, ${(filteredApi / filteredSql).toFixed(1)}×, ${(searchApi / searchSql).toFixed(1)}× the SQL alone`,
        goal: 'p95 ≤ 50 ms',
        met: worst <= 50,
        scale: `${jobs} jobs (generate_series, ${round(fillSeconds)} s), ${REQUESTS} requests each after ${WARM_UP} warm-up`,
        details: {
          jobs,
          first_page_api_p95_ms: firstPageApi,
          filtered_api_p95_ms: filteredApi,
          first_page_sql_p95_ms: firstPageSql,
          filtered_sql_p95_ms: filteredSql,
          search_api_p95_ms: searchApi,
          search_sql_p95_ms: searchSql,
          filtered_plan: filteredPlan.rows.map((r) => r['QUERY PLAN']),
        },
      };
    } finally {
      await db.close();
      await mothership.stop();
      await database.drop();
    }
  },
};
