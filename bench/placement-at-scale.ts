/**
 * "Why is this pending?" and the submit's satisfiability check at 10,000 runners, on PGlite:
 * `npx tsx bench/placement-at-scale.ts [RUNNERS]`. Not a figure of `npm run bench` (it needs no
 * PostgreSQL server); it prints the median of 20 calls of each, after 3 warm-up calls.
 *
 * The fleet: RUNNERS runners (a quarter offline, a tenth draining), 4 to 64 CPUs, 8 of them GPU
 * boxes with 8 GPUs and a GPU model, 2 labels each from 10 pools; 5,000 live tasks holding CPU,
 * memory and GPUs; 2,000 pending tasks of 20 jobs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseConstraint } from '@borg/protocol';

import { migrate } from '../packages/mothership/src/db/migrate.ts';
import { PgliteDatabase } from '../packages/mothership/src/db/pglite-database.ts';
import { judgeSatisfiability } from '../packages/mothership/src/jobs/satisfiability.ts';
import { TaskPlacementService } from '../packages/mothership/src/jobs/task-placement.ts';
import { placementStore } from '../packages/mothership/src/runners/placement-store.ts';

const RUNNERS = Number(process.argv[2] ?? 10_000);

async function median(label: string, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`${label.padEnd(60)} ${times[10]!.toFixed(1).padStart(7)} ms (p95 ${times[18]!.toFixed(1)} ms)`);
}

async function seed(db: PgliteDatabase): Promise<void> {
  await db.exec(`
    INSERT INTO runners (device_id, name, hostname, os, arch, max_concurrent_tasks, labels, status, draining,
                         last_heartbeat, capacity, attributes)
    SELECT 'device-' || i, 'runner-' || i, 'host-' || i, 'linux', 'x64', 4,
           jsonb_build_object('pool', 'p' || (i % 10), 'zone', 'z' || (i % 3)),
           CASE WHEN i % 4 = 0 THEN 'offline' ELSE 'online' END, i % 10 = 1, now(),
           jsonb_build_object('cpu', 4 * (1 + i % 16), 'memory_mb', 8192 * (1 + i % 8),
             'gpus', CASE WHEN i % 8 = 0 THEN (SELECT jsonb_agg(jsonb_build_object('index', g, 'uuid', 'GPU-' || i || '-' || g,
                       'model', 'A100', 'memory_mb', 81920, 'memory_free_mb', 80000)) FROM generate_series(0, 7) g)
                     ELSE '[]' END),
           jsonb_build_object('pool', 'p' || (i % 10), 'zone', 'z' || (i % 3), 'os', 'linux', 'arch', 'x64',
             'hostname', 'host-' || i, 'cpu_count', (4 * (1 + i % 16))::text,
             'memory_gb', (8 * (1 + i % 8))::text)
             || CASE WHEN i % 8 = 0 THEN '{"gpu_model": "A100", "gpu_count": "8"}'::jsonb ELSE '{}' END
      FROM generate_series(1, ${RUNNERS}) i;
    INSERT INTO jobs (name, type, command, labels, resources, priority, max_attempts, array_size, artifacts)
    SELECT 'job-' || j, 'shell', '"true"', jsonb_build_object('pool', 'p' || (j % 10)),
           CASE WHEN j % 2 = 0 THEN '{"cpu": 2, "memory_mb": 4096}'::jsonb ELSE '{"gpus": 1}'::jsonb END,
           0, 1, 250, '[]'
      FROM generate_series(1, 40) j;
    -- 5,000 live tasks (on the first runners) and 2,000 pending ones.
    INSERT INTO tasks (job_id, index, attempt, priority, labels, status, runner_id, assigned_at, gpus)
    SELECT j.id, n, 1, 0, j.labels, 'running', r.id, now() - interval '5 minutes',
           CASE WHEN j.resources ? 'gpus' AND jsonb_array_length(r.capacity -> 'gpus') > 0
                THEN jsonb_build_array(jsonb_build_object('index', n % 8, 'uuid', 'x')) ELSE '[]' END
      FROM (SELECT id, labels, resources, row_number() OVER (ORDER BY name) AS k FROM jobs) j,
           generate_series(0, 249) n,
           LATERAL (SELECT id, capacity FROM runners ORDER BY name OFFSET ((j.k * 250 + n) % ${RUNNERS}) LIMIT 1) r
     WHERE j.k <= 20;
    INSERT INTO tasks (job_id, index, attempt, priority, labels)
    SELECT j.id, n, 1, 0, j.labels
      FROM (SELECT id, labels, row_number() OVER (ORDER BY name) AS k FROM jobs) j, generate_series(0, 99) n
     WHERE j.k > 20;
    ANALYZE;
  `);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'borg-placement-bench-'));
  const db = await PgliteDatabase.open(dir);
  try {
    await migrate(db);
    const seeding = performance.now();
    await seed(db);
    console.log(`seeded ${RUNNERS} runners in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);

    const pending = await db.query<{ id: string; job_id: string }>(
      `SELECT t.id, t.job_id FROM tasks t WHERE t.status = 'pending' ORDER BY t.created_at DESC LIMIT 1`,
    );
    const taskId = pending.rows[0]!.id;
    const constraints = ['gpu_model in (A100, H100)', 'memory_gb >= 8', 'hostname !~ ^old-'].map((text) => {
      const parsed = parseConstraint(text);
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.value;
    });
    const service = new TaskPlacementService(db);

    await median('placementStore.runners (no constraints, no GPUs)', () =>
      placementStore.runners(db, [], { knownOnly: false, withGpus: false }),
    );
    await median('placementStore.runners (3 constraints, no GPUs)', () =>
      placementStore.runners(db, constraints, { knownOnly: false, withGpus: false }),
    );
    await median('placementStore.runners (no constraints, GPUs)', () =>
      placementStore.runners(db, [], { knownOnly: false, withGpus: true }),
    );
    await median('placementStore.runners (3 constraints, GPUs)', () =>
      placementStore.runners(db, constraints, { knownOnly: false, withGpus: true }),
    );
    await median('explain a pending task (GET /tasks/:id/placement, service)', () => service.explainTask(taskId));
    await median('submit check: a job some runner fits (one statement)', () =>
      judgeSatisfiability(db, { labels: { pool: 'p0' }, constraints, resources: { gpus: 2 } }, 'reject'),
    );
    const fitsNone = { labels: { pool: 'p3' }, constraints: [], resources: { gpus: 16 } };
    await median('submit check: a job no runner fits, "queue" (one statement)', () =>
      judgeSatisfiability(db, fitsNone, 'queue'),
    );
    await median('submit check: a job no runner fits, "reject" (reads every runner)', () =>
      judgeSatisfiability(db, fitsNone, 'reject').catch((error: unknown) => error),
    );
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
