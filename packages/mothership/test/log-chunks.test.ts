import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENGINE, TEST_DATABASE_URL } from '../../../test/test-database.ts';
import type { Database } from '../src/db/database.ts';
import { loadMigrations, migrate } from '../src/db/migrate.ts';
import { PgDatabase } from '../src/db/pg-database.ts';
import { PgliteDatabase } from '../src/db/pglite-database.ts';
import { logStore, packLines, unpackLines } from '../src/jobs/log-store.ts';

/**
 * Migration 0020 turns a database's line rows into chunks: a database with old logs still
 * serves every line, in order, with its stream and time, and a hole stays a hole.
 */
describe('log chunks (migration 0020)', () => {
  let db: Database;
  let drop: () => Promise<void>;
  const taskId = '00000000-0000-4000-8000-000000000001';

  beforeAll(async () => {
    if (ENGINE === 'postgres') {
      const name = `borg_test_chunks_${randomBytes(4).toString('hex')}`;
      const url = new URL(TEST_DATABASE_URL!);
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
      url.pathname = `/${name}`;
      db = new PgDatabase({ connectionString: url.toString() });
      drop = async () => {
        await db.close();
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => client.end());
      };
    } else {
      const dir = await mkdtemp(join(tmpdir(), 'borg-chunks-'));
      db = await PgliteDatabase.open(dir);
      drop = async () => {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      };
    }
    const migrations = await loadMigrations();
    await migrate(
      db,
      migrations.filter((m) => m.version < 20),
    );
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO jobs (name, type, command) VALUES ('old', 'shell', '"true"') RETURNING id`,
    );
    await db.query(
      `INSERT INTO tasks (id, job_id, index, attempt, status, priority, labels) VALUES ($1::uuid, $2::uuid, 0, 1, 'running', 0, '{}')`,
      [taskId, rows[0]!.id],
    );
    // Lines 0..2499 then, after a hole, 2600..2604; every third on stderr, one second apart.
    await db.query(
      `INSERT INTO task_logs (task_id, line_no, stream, message, logged_at)
       SELECT $1::uuid, n, CASE WHEN n % 3 = 0 THEN 'stderr' ELSE 'stdout' END, 'line ' || n,
              timestamptz '2026-01-01 00:00:00Z' + n * interval '1 second'
         FROM generate_series(0, 2499) n UNION ALL
       SELECT $1::uuid, n, 'system', 'late ' || n, timestamptz '2026-01-02 00:00:00Z' FROM generate_series(2600, 2604) n`,
      [taskId],
    );
    await migrate(db, migrations);
  }, 120_000);

  afterAll(async () => drop?.());

  it('serves the old lines from chunks, by index, with stream and time', async () => {
    const lines = await logStore.range(db, taskId, 0, 10_000);
    expect(lines).toHaveLength(2505);
    expect(lines[0]).toEqual({ index: 0, stream: 'stderr', message: 'line 0', timestamp: '2026-01-01T00:00:00.000Z' });
    expect(lines[1001]).toEqual({
      index: 1001,
      stream: 'stdout',
      message: 'line 1001',
      timestamp: '2026-01-01T00:16:41.000Z',
    });
    expect(lines.at(-1)).toEqual({
      index: 2604,
      stream: 'system',
      message: 'late 2604',
      timestamp: '2026-01-02T00:00:00.000Z',
    });
    expect(lines.slice(0, 2500).every((l, i) => l.index === i && l.message === `line ${i}`)).toBe(true);
    // A page inside a chunk, one across two chunks, one across the hole.
    expect((await logStore.page(db, taskId, 499, 3)).map((l) => l.index)).toEqual([500, 501, 502]);
    expect((await logStore.page(db, taskId, 998, 4)).map((l) => l.message)).toEqual([
      'line 999',
      'line 1000',
      'line 1001',
      'line 1002',
    ]);
    expect((await logStore.page(db, taskId, 2498, 4)).map((l) => l.index)).toEqual([2499, 2600, 2601, 2602]);
    const { rows } = await db.query<{ n: number; chunks: number }>(
      `SELECT (SELECT count(*)::integer FROM task_logs WHERE task_id = $1) AS n,
              (SELECT count(*)::integer FROM task_log_chunks WHERE task_id = $1) AS chunks`,
      [taskId],
    );
    expect(rows[0]).toEqual({ n: 2505, chunks: 4 });
  });

  it('stores a new batch as one chunk after the old ones', async () => {
    const packed = packLines([
      { stream: 'stdout', message: 'new\u0000one', timestamp: '2026-01-03T00:00:00.000+01:00' },
      { stream: 'stderr', message: 'new two', timestamp: '2026-01-03T00:00:00.250Z' },
      { stream: 'system', message: 'ümlaut' },
    ]);
    expect(packed.bytes).toBe(Buffer.byteLength('new\uFFFDone') + 7 + Buffer.byteLength('ümlaut'));
    await logStore.insert(db, taskId, 2605, packed);
    const stored = await logStore.range(db, taskId, 2605, 2607);
    expect(stored).toEqual(unpackLines(2605, packed));
    expect(stored.slice(0, 2)).toEqual([
      { index: 2605, stream: 'stdout', message: 'new\uFFFDone', timestamp: '2026-01-02T23:00:00.000Z' },
      { index: 2606, stream: 'stderr', message: 'new two', timestamp: '2026-01-03T00:00:00.250Z' },
    ]);
    expect((await logStore.range(db, taskId, 2606, 2606)).map((l) => l.message)).toEqual(['new two']);
  });
});
