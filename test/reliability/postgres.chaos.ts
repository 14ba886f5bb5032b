import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BorgClient, type JobWithTasks } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../packages/mothership/src/config.ts';
import { PgDatabase } from '../../packages/mothership/src/db/pg-database.ts';
import { startMothership } from '../../packages/mothership/src/mothership.ts';
import { eventually } from '../test-solder.ts';
import { MothershipProcess, sleep, SolderProcess } from './harness/borg-processes.ts';
import { InvariantChecker } from './harness/invariants.ts';
import { PostgresCluster } from './harness/postgres-cluster.ts';

/**
 * F11, F12, F13 against a PostgreSQL cluster of the suite's own (never the shared server):
 * restarted fast and immediate while solders claim and complete, its claiming backend killed
 * mid-transaction, and frozen with SIGSTOP for longer than the offline window. Heartbeats every
 * 2 s, so a runner is offline after 6 s of silence.
 */
describe.runIf(await PostgresCluster.available())('PostgreSQL faults (F11, F12, F13)', () => {
  let cluster: PostgresCluster;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    cluster = await PostgresCluster.create();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await cluster?.destroy();
  });

  async function fleet(name: string, solders: number) {
    const databaseUrl = await cluster.createDatabase(name);
    const dataDir = await mkdtemp(join(tmpdir(), `borg-chaos-${name}-`));
    const mothership = await MothershipProcess.start({ databaseUrl, dataDir });
    cleanups.push(async () => {
      await mothership.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    });
    const labels = { case: name };
    const started: SolderProcess[] = [];
    for (let i = 0; i < solders; i++) {
      const solder = await SolderProcess.start({
        mothershipUrl: mothership.url,
        registrationToken: mothership.registrationToken,
        labels,
        maxConcurrentTasks: 2,
      });
      cleanups.push(() => solder.cleanup());
      started.push(solder);
    }
    await eventually(
      async () => (await mothership.admin.listRunners()).items.filter((r) => r.status !== 'offline').length === solders,
      30_000,
      'the solders to register',
    );
    const checker = new InvariantChecker(() => db, { storageDir: mothership.storageDir });
    const db = new PgDatabase({ connectionString: databaseUrl, maxConnections: 2 });
    cleanups.push(() => db.close());
    return { mothership, solders: started, labels, checker };
  }

  async function finished(admin: BorgClient, jobId: string, timeoutMs = 120_000): Promise<JobWithTasks> {
    return eventually(
      async () => {
        const job = await admin.getJob(jobId).catch(() => undefined);
        return job?.completed_at ? job : undefined;
      },
      timeoutMs,
      `job ${jobId} to finish`,
    );
  }

  it('restarted fast, stopped (503 + Retry-After meanwhile) and crashed (immediate) while solders work: every element succeeds once (F11)', async () => {
    const { mothership, labels, checker } = await fleet('f11', 2);
    const job = await mothership.admin.createJob({
      name: 'through-restarts',
      type: 'shell',
      command: 'echo "element $BORG_TASK_INDEX"; sleep 0.5; echo done',
      labels,
      array_size: 40,
      max_attempts: 3,
    });
    const succeeded = async () =>
      (await mothership.admin.getJob(job.id).catch(() => undefined))?.tasks.filter((t) => t.status === 'succeeded')
        .length ?? 0;
    /** Waits until more elements than `count` have succeeded: the solders are at work. */
    const beyond = (count: number) => eventually(async () => (await succeeded()) > count, 60_000, 'more successes');

    await beyond(0);
    const beforeRestart = await succeeded();
    await cluster.restart('fast');
    await beyond(beforeRestart);

    // While the server is down, the API answers 503 with Retry-After (not 500, not a hang).
    const beforeStop = await succeeded();
    await cluster.stop('fast');
    const during = await fetch(`${mothership.url}/api/v1/jobs/${job.id}`, {
      headers: { authorization: `Bearer ${mothership.adminToken}` },
      signal: AbortSignal.timeout(15_000),
    });
    expect(during.status).toBe(503);
    expect(during.headers.get('retry-after')).toMatch(/^\d+$/);
    await sleep(2_000); // down a while longer
    await cluster.start();
    await beyond(beforeStop);
    await cluster.restart('immediate');

    const done = await finished(mothership.admin, job.id);
    expect(done.status).toBe('succeeded');
    const successes = done.tasks.filter((t) => t.status === 'succeeded').map((t) => t.index);
    expect(successes.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (const task of done.tasks.filter((t) => t.status === 'succeeded')) {
      const log = (await mothership.admin.getTaskLogs(task.id)).items.map((l) => l.message);
      expect(log).toEqual([`element ${task.index}`, 'done']);
    }
    expect(mothership.alive).toBe(true); // the pool reconnected without a restart
    expect(await checker.check()).toEqual([]);
  });

  it('the claiming backend terminated in the middle of its claim: the claim rolls back, and the task is claimed once (F12)', async () => {
    const databaseUrl = await cluster.createDatabase('f12');
    const dataDir = await mkdtemp(join(tmpdir(), 'borg-chaos-f12-'));
    const adminToken = `chaos-admin-${randomBytes(16).toString('hex')}`;
    const registrationToken = `chaos-reg-${randomBytes(16).toString('hex')}`;
    const mothership = await startMothership(
      loadConfig(
        { host: '127.0.0.1', port: 0, databaseUrl, dataDir, adminToken, registrationToken, logLevel: 'silent' },
        {},
      ),
      { maintenance: false },
    );
    cleanups.push(async () => {
      await mothership.close();
      await rm(dataDir, { recursive: true, force: true });
    });
    const url = await mothership.listen();
    const admin = new BorgClient({ baseUrl: url, token: adminToken });
    const register = async (device: string) => {
      const answer = await new BorgClient({ baseUrl: url, token: registrationToken }).register({
        device_id: device,
        name: device,
        hostname: 'h',
        os: 'linux',
        arch: 'x64',
        max_concurrent_tasks: 1,
        labels: {},
        resources: {},
      });
      return { id: answer.id, client: new BorgClient({ baseUrl: url, token: answer.token }) };
    };
    const first = await register('f12-a');
    const second = await register('f12-b');
    const job = await admin.createJob({ name: 'f12', type: 'shell', command: 'true' });

    // The claim is one call of borg_claim, which first locks the runner's row. Another session
    // holds that lock, so the claim waits inside the function; then its backend is terminated
    // by the server, the real thing, half-way through the claim's transaction.
    const blocker = new PgDatabase({ connectionString: databaseUrl, maxConnections: 2 });
    cleanups.push(() => blocker.close());
    let releaseRunner!: () => void;
    const holding = new Promise<void>((resolve) => (releaseRunner = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = blocker.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM runners WHERE id = $1 FOR UPDATE', [first.id]);
      locked();
      await holding;
    });
    await lockTaken;
    const answer = first.client.nextTasks(first.id, { wait: 0 }).then(
      () => 0,
      (error: { status: number }) => error.status,
    );
    const claimingPid = await eventually(
      async () => {
        const { rows } = await blocker.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE query LIKE '%borg_claim(%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        );
        return rows[0]?.pid;
      },
      10_000,
      'the claim to wait on the runner lock',
    );
    await blocker.query('SELECT pg_terminate_backend($1)', [claimingPid]);
    const refused = await answer;
    releaseRunner();
    await holder;
    expect(refused).toBe(503);
    expect((await admin.getJob(job.id)).tasks).toMatchObject([{ status: 'pending', runner_id: null }]);

    const claims = await Promise.all([second, first].map((r) => r.client.nextTasks(r.id, { wait: 0 })));
    expect(claims.flatMap((c) => c?.items ?? []).map((t) => t.job_id)).toEqual([job.id]);
    const checker = new InvariantChecker(() => mothership.db);
    expect(await checker.check()).toEqual([]);
  });

  it('frozen (SIGSTOP) for longer than the offline window, then resumed: no runner lost, no task requeued (F13)', async () => {
    const { mothership, solders, labels, checker } = await fleet('f13', 2);
    const job = await mothership.admin.createJob({
      name: 'through-a-freeze',
      type: 'shell',
      command: 'echo begin; sleep 25; echo end',
      labels,
      array_size: 4,
      max_attempts: 2,
    });
    await eventually(
      async () => (await mothership.admin.getJob(job.id)).tasks.every((t) => t.status === 'running'),
      30_000,
      'the four tasks to run',
    );
    const frozen = await cluster.freeze();
    await sleep(10_000); // the offline window is 6 s
    cluster.thaw(frozen);
    // No signal says a maintenance round ran after the thaw: give the reaper more than a window
    // to get it wrong.
    await sleep(10_000);

    const seen = await mothership.admin.getJob(job.id);
    expect(seen.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'running'],
      [1, 'running'],
      [1, 'running'],
      [1, 'running'],
    ]);
    for (const runner of (await mothership.admin.listRunners()).items) expect(runner.status).not.toBe('offline');
    const done = await finished(mothership.admin, job.id);
    expect(done.status).toBe('succeeded');
    expect(done.tasks).toHaveLength(4);
    expect(solders.every((s) => s.alive)).toBe(true);
    expect(await checker.check()).toEqual([]);
  });
});
