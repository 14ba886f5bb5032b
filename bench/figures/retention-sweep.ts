/**
 * Figure 12, retention at scale: the claim's latency while the maintenance leader's sweep deletes
 * 1,000,000 ended jobs (each with an attempt and a log chunk) past BORG_RETENTION_JOBS, beside the
 * same claims on the same database with nothing being deleted. A simulated runner claims one task
 * at a time (`nextTasks`, wait 0) from a queue kept full, and reports it done (not timed). Also:
 * the sweep's rate, and how long seeding took.
 */
import { BorgClient } from '@borg/protocol';
import pg from 'pg';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, scaled } from '../lib/figure.ts';
import { type MothershipProcess, startMothershipProcess } from '../lib/mothership-process.ts';
import { quantile, round, sleep, sorted } from '../lib/stats.ts';

const SEED_BATCH = 50_000;
const QUEUED = 2_000;

/** `count` jobs that ended two days ago, each with one succeeded attempt and one log chunk. */
async function seedEndedJobs(client: pg.Client, count: number): Promise<void> {
  for (let done = 0; done < count; done += SEED_BATCH) {
    await client.query(
      `WITH j AS (
         INSERT INTO jobs (name, type, command, status, created_at, updated_at, started_at, completed_at)
         SELECT 'old-' || (i % 100), 'shell', '"true"'::jsonb, 'succeeded',
                now() - interval '3 days', now() - interval '2 days', now() - interval '2 days',
                now() - interval '2 days' + i * interval '1 microsecond'
           FROM generate_series(1, $1::integer) AS i
         RETURNING id
       ), t AS (
         INSERT INTO tasks (job_id, index, attempt, status, priority, labels, exit_code, completed_at)
         SELECT id, 0, 1, 'succeeded', 0, '{}', 0, now() - interval '2 days' FROM j
         RETURNING id
       )
       INSERT INTO task_log_chunks (task_id, first_line, line_count, streams, logged_at, messages)
       SELECT id, 0, 1, 'o', now() - interval '2 days', ARRAY['a line of the old job''s log'] FROM t`,
      [Math.min(SEED_BATCH, count - done)],
    );
  }
}

interface ClaimLoop {
  stop(): Promise<number[]>;
}

/** Claims one task at a time, timing each claim that got one, and keeps the queue full. */
async function claimLoop(mothership: MothershipProcess): Promise<ClaimLoop> {
  const registered = await new BorgClient({ baseUrl: mothership.url, token: mothership.registrationToken }).register({
    device_id: `retention-bench-${Date.now()}`,
    name: 'retention-bench',
    hostname: 'bench',
    os: 'linux',
    arch: 'x64',
    max_concurrent_tasks: 8,
    labels: {},
    resources: {},
  });
  const runner = new BorgClient({ baseUrl: mothership.url, token: registered.token });
  await mothership.admin.createJob({ name: 'queued', command: 'true', array_size: QUEUED });
  const samples: number[] = [];
  let stopped = false;
  const loop = (async () => {
    let heartbeatAt = Date.now();
    while (!stopped) {
      const started = performance.now();
      const answer = await runner.nextTasks(registered.id, { wait: 0, max: 1 });
      const ms = performance.now() - started;
      const task = answer?.items[0];
      if (!task) {
        await mothership.admin.createJob({ name: 'queued', command: 'true', array_size: QUEUED });
        continue;
      }
      samples.push(ms);
      await runner.reportTaskStatus(task.id, { status: 'running' });
      await runner.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
      if (Date.now() - heartbeatAt > 5_000) {
        heartbeatAt = Date.now();
        await runner.heartbeat(registered.id, { status: 'online' });
      }
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

const p = (values: number[], q: number) => round(quantile(sorted(values), q), 2);

export const retentionSweep: Figure = {
  figure: 12,
  name: 'retention-sweep',
  async run() {
    const count = scaled(1_000_000, 1_000);
    const database = await createBenchDatabase('retention');
    const sql = new pg.Client({ connectionString: database.url });
    const env = { BORG_RETENTION_INTERVAL_MS: '500' };
    // First with retention off: migrate, seed, and time claims with nothing being deleted.
    let mothership = await startMothershipProcess({
      databaseUrl: database.url,
      env: { ...env, BORG_RETENTION_JOBS: 'off' },
    });
    try {
      await sql.connect();
      const size = async () =>
        Number((await sql.query('SELECT pg_database_size(current_database()) AS bytes')).rows[0].bytes);
      const sizeBefore = await size();
      const seedStarted = performance.now();
      await seedEndedJobs(sql, count);
      await sql.query('ANALYZE');
      const seedSeconds = (performance.now() - seedStarted) / 1000;
      const mibPerMillion = round(((((await size()) - sizeBefore) / count) * 1e6) / 1024 ** 2, 3);

      const quiet = await claimLoop(mothership);
      await sleep(20_000);
      const quietSamples = await quiet.stop();
      await mothership.stop();

      // Then with BORG_RETENTION_JOBS=1d: the leader sweeps the million while claims go on.
      mothership = await startMothershipProcess({
        databaseUrl: database.url,
        env: { ...env, BORG_RETENTION_JOBS: '1d' },
      });
      const busy = await claimLoop(mothership);
      const sweepStarted = performance.now();
      const expired = async () =>
        (
          await sql.query(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE completed_at < now() - interval '1 day' AND retention_seconds IS NULL AND NOT pinned) AS left",
          )
        ).rows[0].left as boolean;
      while (await expired()) await sleep(1_000);
      const sweepSeconds = (performance.now() - sweepStarted) / 1000;
      const busySamples = await busy.stop();
      const left = Number((await sql.query('SELECT count(*) AS n FROM task_log_chunks')).rows[0].n);

      const busyP99 = p(busySamples, 0.99);
      const quietP99 = p(quietSamples, 0.99);
      return {
        figure: 12,
        name: 'retention-sweep',
        title: `claims while retention deletes ${count.toLocaleString('en')} ended jobs (PostgreSQL)`,
        borg: `claim p50 ${p(busySamples, 0.5)} ms, p99 ${busyP99} ms over ${busySamples.length} claims while the sweep deleted ${count.toLocaleString('en')} jobs in ${round(sweepSeconds, 3)} s (${Math.round(count / sweepSeconds)} jobs/s)`,
        reference: `the same claims with nothing deleted: p50 ${p(quietSamples, 0.5)} ms, p99 ${quietP99} ms over ${quietSamples.length} claims`,
        ratio: `claim p99 ${(busyP99 / quietP99).toFixed(2)}× the quiet one's`,
        goal: 'the sweep never blocks claims: reported (no goal set)',
        met: null,
        scale: `${count.toLocaleString('en')} jobs seeded by SQL in ${round(seedSeconds, 3)} s (${mibPerMillion} MiB of database per million such jobs); ${left} log chunks left after the sweep`,
        details: {
          count,
          seed_seconds: seedSeconds,
          sweep_seconds: sweepSeconds,
          quiet: quietSamples.length,
          busy: busySamples.length,
        },
      };
    } finally {
      await sql.end().catch(() => undefined);
      await mothership.stop();
      await database.drop();
    }
  },
};
