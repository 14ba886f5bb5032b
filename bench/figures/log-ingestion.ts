/**
 * Figure 5, log ingestion: TASKS tasks each print LINES lines, run by a real `borg solder` (one
 * slot per task), while VIEWERS WebSocket clients watch them live (VIEWERS / TASKS per task).
 * Borg's figure: lines stored per second, from the first task's start to the moment every line
 * is in PostgreSQL; then every line is checked, stored and seen by every viewer (a viewer the
 * server cuts off as too slow comes back as the dashboard does: lib/log-viewer.ts). Reference: the
 * same lines written with plain multi-row INSERTs (1,000 rows each, one connection per task)
 * into a table shaped like task_logs.
 */
import pg from 'pg';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, ratioText, scaled } from '../lib/figure.ts';
import { LogViewer } from '../lib/log-viewer.ts';
import { startMothershipProcess } from '../lib/mothership-process.ts';
import { inParallel, round, sleep } from '../lib/stats.ts';
import { spawnSolderProcess } from './process-throughput.ts';

const TASKS = 10;
const VIEWERS = 100;
const TEXT = 'a log line of the benchmark, about as long as a real one';

/** Lines per second, and the table's bytes (with its index and TOAST) per million lines. */
async function referenceInsert(databaseUrl: string, lines: number): Promise<{ rate: number; bytesPerMillion: number }> {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`CREATE TABLE bench_logs (task_id uuid NOT NULL, line_no integer NOT NULL,
    stream text NOT NULL, message text NOT NULL, logged_at timestamptz NOT NULL, PRIMARY KEY (task_id, line_no))`);
  await setup.end();
  const started = performance.now();
  await inParallel(TASKS, TASKS, async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const taskId = crypto.randomUUID();
    for (let first = 0; first < lines; first += 1_000) {
      const n = Math.min(1_000, lines - first);
      const values: string[] = [];
      const params: unknown[] = [taskId];
      for (let i = 0; i < n; i++) {
        params.push(first + i, `${first + i + 1} ${TEXT}`);
        values.push(`($1, $${params.length - 1}, 'stdout', $${params.length}, now())`);
      }
      await client.query(`INSERT INTO bench_logs VALUES ${values.join(', ')}`, params);
    }
    await client.end();
  });
  const rate = (TASKS * lines) / ((performance.now() - started) / 1000);
  const sizer = new pg.Client({ connectionString: databaseUrl });
  await sizer.connect();
  const bytes = await tableBytes(sizer, ['bench_logs']);
  await sizer.end();
  return { rate, bytesPerMillion: (bytes / (TASKS * lines)) * 1_000_000 };
}

/** pg_total_relation_size of the tables together: heap, indexes and TOAST. */
async function tableBytes(client: pg.Client, tables: string[]): Promise<number> {
  await client.query(`VACUUM ${tables.join(', ')}`); // the visibility and free-space maps, as a settled table has
  const { rows } = await client.query<{ bytes: string }>(
    'SELECT sum(pg_total_relation_size(t::regclass))::bigint AS bytes FROM unnest($1::text[]) t',
    [tables],
  );
  return Number(rows[0]!.bytes);
}

const mib = (bytes: number): string => `${round(bytes / 1024 / 1024)} MiB`;

export const logIngestion: Figure = {
  figure: 5,
  name: 'logs',
  async run() {
    const lines = scaled(100_000, 1_000);
    const database = await createBenchDatabase('logs');
    const referenceDb = await createBenchDatabase('logs_reference');
    const mothership = await startMothershipProcess({ databaseUrl: database.url });
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const viewers: LogViewer[] = [];
    let solder: Awaited<ReturnType<typeof spawnSolderProcess>> | undefined;
    try {
      const job = await mothership.admin.createJob({
        name: 'logs',
        type: 'shell',
        command: `seq -f '%.0f ${TEXT}' 1 ${lines}`,
        array_size: TASKS,
      });
      const taskIds = (await mothership.admin.getJob(job.id)).tasks.map((t) => t.id);
      // One token per 10 viewers, as 10 people watching (a token may hold only so many sockets).
      const tokens: string[] = [];
      for (let i = 0; i < Math.ceil(VIEWERS / 10); i++) {
        tokens.push((await mothership.admin.createToken({ name: `viewer-${i}` })).token);
      }
      for (let v = 0; v < VIEWERS; v++) {
        const viewer = new LogViewer(
          `${mothership.url.replace('http', 'ws')}/ws`,
          tokens[v % tokens.length]!,
          taskIds[v % TASKS]!,
          mothership.admin,
        );
        await viewer.start();
        viewers.push(viewer);
      }
      await sleep(500);
      solder = await spawnSolderProcess(mothership, TASKS);
      const total = TASKS * lines;
      const deadline = Date.now() + 300_000;
      let storedAt = 0;
      for (;;) {
        const { rows } = await db.query<{ stored: number; first: Date | null }>(
          'SELECT coalesce(sum(log_lines), 0)::integer AS stored, min(started_at) AS first FROM tasks',
        );
        if (rows[0]!.stored >= total) {
          storedAt = Date.now();
          const seconds = (storedAt - rows[0]!.first!.getTime()) / 1000;
          const { rows: check } = await db.query<{ n: number; tasks: number }>(
            'SELECT count(*)::integer AS n, count(DISTINCT task_id)::integer AS tasks FROM task_logs',
          );
          const borgBytesPerMillion = ((await tableBytes(db, ['task_log_chunks'])) / total) * 1_000_000;
          // The last frames on their way to the viewers, and a cut-off viewer's reading back.
          const caughtUpBy = Date.now() + 30_000;
          while (viewers.some((v) => v.received < lines) && Date.now() < caughtUpBy) await sleep(100);
          const complete = viewers.filter((v) => v.received === lines && v.outOfOrder === 0).length;
          const cutOff = viewers.filter((v) => v.reconnects > 0).length;
          const ref = await referenceInsert(referenceDb.url, lines);
          const reference = ref.rate;
          const borg = total / seconds;
          const lost = total - check[0]!.n;
          return {
            figure: 5,
            name: 'logs',
            title: `log ingestion, ${VIEWERS} live viewers`,
            borg: `${round(borg)} lines/s stored; ${lost} lost; ${complete}/${VIEWERS} viewers got every line in order (${cutOff} cut off as too slow and resumed, as the dashboard does); ${mib(borgBytesPerMillion)} per million lines`,
            reference: `multi-row INSERT: ${round(reference)} lines/s; ${mib(ref.bytesPerMillion)} per million lines`,
            ratio: ratioText(borg / reference, 'INSERT'),
            goal: '≥ 0.7× INSERT, no line lost',
            met: borg / reference >= 0.7 && lost === 0 && complete === VIEWERS,
            scale: `${TASKS} tasks × ${lines} lines, ${VIEWERS} viewers; one run (the reference is one run too)`,
            details: {
              lines: total,
              stored: check[0]!.n,
              seconds: round(seconds),
              borg_lines_per_s: round(borg),
              reference_lines_per_s: round(reference),
              borg_bytes_per_million_lines: Math.round(borgBytesPerMillion),
              reference_bytes_per_million_lines: Math.round(ref.bytesPerMillion),
              viewers_complete: complete,
              viewers_cut_off: cutOff,
              viewer_reconnects: viewers.reduce((n, v) => n + v.reconnects, 0),
              viewer_refetches: viewers.reduce((n, v) => n + v.refetches, 0),
              viewer_lines_min: Math.min(...viewers.map((v) => v.received)),
            },
          };
        }
        if (Date.now() > deadline) throw new Error(`only ${rows[0]!.stored} of ${total} lines stored in 300 s`);
        await sleep(100);
      }
    } finally {
      for (const viewer of viewers) viewer.stop();
      await db.end();
      await solder?.stop();
      await mothership.stop();
      await database.drop();
      await referenceDb.drop();
    }
  },
};
