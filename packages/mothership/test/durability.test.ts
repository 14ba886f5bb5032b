import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';

import type { BorgApiError, JobWithTasks, LogPage, Runner } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, ENGINE, type TestDatabase } from '../../../test/test-database.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { loadConfig } from '../src/config.ts';
import { DataDirLockedError } from '../src/db/data-dir-lock.ts';
import type { Database } from '../src/db/database.ts';
import { loadMigrations, migrate, SchemaTooNewError } from '../src/db/migrate.ts';
import { PgDatabase } from '../src/db/pg-database.ts';
import { PgliteDatabase } from '../src/db/pglite-database.ts';
import { startMothership } from '../src/mothership.ts';

/**
 * Semantics 9 (restarts lose nothing) and "Data": everything accepted before a restart of the
 * mothership is there after it, on the engine under test; the embedded engine's directory has
 * one owner; migrations are applied once and a schema from the future is refused.
 */

/** Runners are offline after 3 silent intervals: 3 s here, so a restart can outlast it. */
const HEARTBEAT_SECONDS = 1;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function configFor(database: TestDatabase, adminToken: string) {
  return loadConfig(
    {
      host: '127.0.0.1',
      port: 0,
      databaseUrl: database.databaseUrl,
      dataDir: database.dataDir,
      adminToken,
      logLevel: 'silent',
    },
    {},
  );
}

describe('a restart of the mothership', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: HEARTBEAT_SECONDS } });

  // What was accepted before the restart, as the API showed it then.
  const before = {
    jobs: [] as JobWithTasks[],
    logs: { items: [], next_cursor: null } as LogPage,
    runners: [] as Runner[],
  };
  const bytes = randomBytes(256 * 1024);
  let fileId = '';
  let worker: TestRunner; // finished its task before the restart
  let midTask: TestRunner; // holds a running task across the restart and comes back
  let silent: TestRunner; // holds a running task and never comes back
  let midTaskId = '';
  let silentTaskId = '';
  let loggedTaskId = '';
  let keptToken = '';
  let revokedToken = '';

  beforeAll(async () => {
    const { admin } = borg();
    const file = await admin.uploadFile(new Blob([bytes]), 'input.bin');
    expect(file.sha256).toBe(sha256(bytes));
    fileId = file.id;

    worker = await borg().registerRunner({ labels: { role: 'worker' } });
    midTask = await borg().registerRunner({ labels: { role: 'mid-task' } });
    silent = await borg().registerRunner({ labels: { role: 'silent' } });

    const done = await admin.createJob({
      name: 'finished',
      type: 'shell',
      command: 'cat input.bin',
      labels: { role: 'worker' },
      env: { GREETING: 'hello' },
      files: [{ file_id: fileId, path: 'input.bin' }],
    });
    const task = (await worker.client.nextTasks(worker.id, { wait: 0 }))!.items[0]!;
    loggedTaskId = task.id;
    await worker.client.reportTaskStatus(task.id, { status: 'running' });
    await worker.client.appendTaskLogs(task.id, {
      seq: 0,
      lines: [
        { stream: 'stdout', message: 'line one' },
        { stream: 'stderr', message: 'line two' },
      ],
    });
    await worker.client.appendTaskLogs(task.id, { seq: 1, lines: [{ stream: 'stdout', message: 'line three' }] });
    await worker.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });

    const running = await admin.createJob({
      name: 'long',
      type: 'shell',
      command: 'sleep 60',
      labels: { role: 'mid-task' },
    });
    midTaskId = (await midTask.client.nextTasks(midTask.id, { wait: 0 }))!.items[0]!.id;
    await midTask.client.reportTaskStatus(midTaskId, { status: 'running' });

    const abandoned = await admin.createJob({
      name: 'abandoned',
      type: 'shell',
      command: 'sleep 60',
      labels: { role: 'silent' },
    });
    silentTaskId = (await silent.client.nextTasks(silent.id, { wait: 0 }))!.items[0]!.id;
    await silent.client.reportTaskStatus(silentTaskId, { status: 'running' });

    const waiting = await admin.createJob({
      name: 'waiting',
      type: 'binary',
      command: ['echo', 'x'],
      labels: { role: 'nobody' },
      priority: 5,
      array_size: 2,
    });

    keptToken = (await admin.createToken({ name: 'kept', kind: 'user' })).token;
    const revoked = await admin.createToken({ name: 'revoked', kind: 'user' });
    revokedToken = revoked.token;
    await admin.revokeToken(revoked.id);

    before.jobs = await Promise.all([done, running, abandoned, waiting].map((j) => admin.getJob(j.id)));
    before.logs = await admin.getTaskLogs(loggedTaskId);
    before.runners = await Promise.all([worker, midTask, silent].map((r) => admin.getRunner(r.id)));

    await borg().restart();
  });

  it('keeps every job and task with its state', async () => {
    const after = await Promise.all(before.jobs.map((j) => borg().admin.getJob(j.id)));
    expect(after).toEqual(before.jobs);
    expect(after.map((j) => j.status)).toEqual(['succeeded', 'running', 'running', 'queued']);
    expect(after[3]!.tasks.map((t) => t.status)).toEqual(['pending', 'pending']);
    const listed = (await borg().admin.listJobs({ limit: 500 })).items.map((j) => j.id);
    expect(listed).toEqual(expect.arrayContaining(before.jobs.map((j) => j.id)));
  });

  it('keeps every stored log line, in order, with its index, stream and time', async () => {
    const after = await borg().admin.getTaskLogs(loggedTaskId);
    expect(after).toEqual(before.logs);
    expect(after.items.map((l) => [l.index, l.message])).toEqual([
      [0, 'line one'],
      [1, 'line two'],
      [2, 'line three'],
    ]);
  });

  it('keeps the runners as they were', async () => {
    const after = await Promise.all(before.runners.map((r) => borg().admin.getRunner(r.id)));
    expect(after).toEqual(before.runners);
  });

  it('keeps files: the same metadata, and bytes that match their sha256', async () => {
    const info = await borg().admin.getFile(fileId);
    expect(info).toMatchObject({ id: fileId, filename: 'input.bin', size: bytes.length, sha256: sha256(bytes) });
    const downloaded = new Uint8Array(await (await borg().admin.downloadFile(fileId)).arrayBuffer());
    expect(sha256(downloaded)).toBe(info.sha256);
    expect(Buffer.compare(Buffer.from(downloaded), bytes)).toBe(0);
  });

  it('keeps tokens: the admin, a user and a runner token still work, a revoked one stays revoked', async () => {
    const tokens = (await borg().admin.listTokens()).items;
    expect(tokens.find((t) => t.name === 'kept')).toMatchObject({ kind: 'user', revoked_at: null });
    const seenByKept = (await borg().client(keptToken).listJobs({ limit: 500 })).items.map((j) => j.id);
    expect(seenByKept).toEqual(expect.arrayContaining(before.jobs.map((j) => j.id)));
    await expect(worker.client.heartbeat(worker.id, {})).resolves.toMatchObject({ ok: true });
    await expect(borg().client(revokedToken).listJobs()).rejects.toMatchObject({
      status: 401,
    } satisfies Partial<BorgApiError>);
  });

  it('lets a runner keep its running task and finish it; the reaper waits a full window before calling anyone lost', async () => {
    // Both runners have now been silent for longer than the offline window (3 intervals)...
    await expect
      .poll(
        async () => {
          const { rows } = await borg().db.query<{ silent: boolean }>(
            `SELECT bool_and(last_heartbeat < now() - make_interval(secs => $2::double precision)) AS silent FROM runners WHERE id = ANY($1::uuid[])`,
            [[midTask.id, silent.id], HEARTBEAT_SECONDS * 3 + 0.5],
          );
          return rows[0]?.silent;
        },
        { timeout: 15_000, interval: 100, message: 'the runners to look silent' },
      )
      .toBe(true);
    // ... yet right after the restart the reaper marks nothing lost: the silence may have been ours.
    await borg().tick();
    const [mid, quiet] = await Promise.all([midTask, silent].map((r) => borg().admin.getRunner(r.id)));
    expect([mid!.status, quiet!.status]).not.toContain('offline');
    expect((await borg().admin.getJob(before.jobs[1]!.id)).tasks.map((t) => t.status)).toEqual(['running']);
    expect((await borg().admin.getJob(before.jobs[2]!.id)).tasks.map((t) => t.status)).toEqual(['running']);

    // The runner that was mid-task checks in with its task, is not told to drop it, and finishes it.
    const beat = await midTask.client.heartbeat(midTask.id, { task_ids: [midTaskId] });
    expect(beat).toMatchObject({ abandon_task_ids: [], cancel_task_ids: [] });
    await midTask.client.appendTaskLogs(midTaskId, { seq: 0, lines: [{ stream: 'stdout', message: 'still here' }] });
    await midTask.client.reportTaskStatus(midTaskId, { status: 'succeeded', exit_code: 0 });
    expect((await borg().admin.getJob(before.jobs[1]!.id)).status).toBe('succeeded');

    // Once the grace is over, the runner that never came back is offline and its task lost.
    await expect
      .poll(
        async () => {
          await borg().tick();
          return (await borg().admin.getJob(before.jobs[2]!.id)).tasks[0]!.status;
        },
        { timeout: 15_000, interval: 100, message: 'the silent runner to be reaped after the grace' },
      )
      .toBe('lost');
    expect((await borg().admin.getRunner(silent.id)).status).toBe('offline');
    expect((await borg().admin.getJob(before.jobs[1]!.id)).status).toBe('succeeded');
  });

  it.skipIf(ENGINE === 'postgres')(
    'refuses a second mothership on the same data directory while the first runs (embedded engine only: PostgreSQL has no data directory to share)',
    async () => {
      const second = startMothership(configFor(borg().database, borg().adminToken), { maintenance: false });
      await expect(second).rejects.toBeInstanceOf(DataDirLockedError);
      // The first is unharmed and still owns its directory.
      await expect(borg().admin.getJob(before.jobs[0]!.id)).resolves.toMatchObject({ status: 'succeeded' });
    },
  );
});

describe('migrations', () => {
  let database: TestDatabase;
  let db: Database | undefined;

  beforeAll(async () => {
    database = await createTestDatabase(); // migrated by the code's migrations, as a first start would
    db = database.databaseUrl
      ? new PgDatabase({ connectionString: database.databaseUrl })
      : await PgliteDatabase.open(join(database.dataDir, 'pglite'));
  });

  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('apply nothing the second time', async () => {
    const all = await loadMigrations();
    expect(await migrate(db!)).toEqual([]);

    const probe = {
      version: 9000,
      name: 'probe',
      sql: 'CREATE TABLE migration_probe (n integer); INSERT INTO migration_probe VALUES (1);',
    };
    expect(await migrate(db!, [...all, probe])).toEqual([9000]);
    expect(await migrate(db!, [...all, probe])).toEqual([]);
    const { rows } = await db!.query<{ n: number }>('SELECT count(*)::integer AS n FROM migration_probe');
    expect(rows[0]!.n).toBe(1);
    const versions = await db!.query<{ version: number }>('SELECT version FROM borg_migrations ORDER BY version');
    expect(versions.rows.map((r) => r.version)).toEqual([...all.map((m) => m.version), 9000]);
  });

  it('refuse a database whose schema is newer than the code, at migration and at start-up', async () => {
    const latest = (await loadMigrations()).at(-1)!.version;
    await db!.query(
      `INSERT INTO borg_migrations (version, name) VALUES ($1, 'from_the_future') ON CONFLICT DO NOTHING`,
      [latest + 10_000],
    );
    await expect(migrate(db!)).rejects.toBeInstanceOf(SchemaTooNewError);

    await db!.close(); // the embedded engine has one owner at a time
    db = undefined;
    const start = startMothership(configFor(database, `admin-${randomBytes(16).toString('hex')}`), {
      maintenance: false,
    });
    await expect(start).rejects.toBeInstanceOf(SchemaTooNewError);
  });
});
