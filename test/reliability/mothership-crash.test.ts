import type { LogLine } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, type TestDatabase } from '../test-database.ts';
import { eventually } from '../test-solder.ts';
import { MothershipProcess, openDatabaseOf, sleep, SolderProcess } from './harness/borg-processes.ts';
import { InvariantChecker } from './harness/invariants.ts';

/**
 * F8 and F10: `borg mothership` SIGKILLed while two real solders run tasks that stream their
 * output, then started again. The tasks keep running, no runner is marked lost, no attempt is
 * spent, and each stored log is the task's output exactly, every line once and in order.
 * Heartbeats every 2 s (offline after 6 s); the mothership stays down for 3 s, plus its restart.
 */
describe('the mothership SIGKILLed with tasks running (F8, F10)', () => {
  let database: TestDatabase;
  let mothership: MothershipProcess;
  const solders: SolderProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    mothership = await MothershipProcess.start({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
  });
  afterAll(async () => {
    for (const solder of solders) await solder.cleanup();
    await mothership?.kill('SIGKILL');
    await database?.drop();
  });

  async function logOf(taskId: string): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    for (let after = -1; ;) {
      const page = await mothership.admin.getTaskLogs(taskId, { after, limit: 10_000 });
      lines.push(...page.items);
      if (!page.next_cursor) return lines;
      after = Number(page.next_cursor);
    }
  }

  it('tasks run on, nothing is reclaimed, and every log line arrives exactly once, in order', async () => {
    const labels = { case: 'mothership-crash' };
    for (let i = 0; i < 2; i++) {
      solders.push(
        await SolderProcess.start({
          mothershipUrl: mothership.url,
          registrationToken: mothership.registrationToken,
          labels,
        }),
      );
    }
    const LINES = 100;
    const job = await mothership.admin.createJob({
      name: 'streaming',
      type: 'shell',
      command: `i=1; while [ $i -le ${LINES} ]; do echo "element $BORG_TASK_INDEX line $i"; i=$((i+1)); sleep 0.1; done`,
      labels,
      array_size: 2,
      max_attempts: 2,
    });
    const running = await eventually(
      async () => {
        const seen = await mothership.admin.getJob(job.id);
        return seen.tasks.every((t) => t.status === 'running') ? seen : undefined;
      },
      30_000,
      'both tasks to run',
    );
    await eventually(async () => (await logOf(running.tasks[0]!.id)).length >= 10, 20_000, 'the first lines');

    await mothership.kill('SIGKILL');
    await sleep(3_000);
    await mothership.boot();

    const done = await eventually(
      async () => {
        const seen = await mothership.admin.getJob(job.id).catch(() => undefined);
        return seen?.completed_at ? seen : undefined;
      },
      60_000,
      'the job to finish',
    );
    expect(done.status).toBe('succeeded');
    // One attempt per element: nothing was lost or retried.
    expect(done.tasks.map((t) => [t.index, t.attempt, t.status])).toEqual([
      [0, 1, 'succeeded'],
      [1, 1, 'succeeded'],
    ]);
    for (const task of done.tasks) {
      const log = await logOf(task.id);
      expect(log.map((l) => l.message)).toEqual(
        Array.from({ length: LINES }, (_, i) => `element ${task.index} line ${i + 1}`),
      );
    }
    for (const runner of (await mothership.admin.listRunners()).items) expect(runner.status).not.toBe('offline');
    await expectInvariants();
  }, 120_000);

  async function expectInvariants(): Promise<void> {
    for (const solder of solders) await solder.kill('SIGTERM');
    await mothership.kill('SIGTERM');
    const db = await openDatabaseOf({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    try {
      const checker = new InvariantChecker(() => db, { storageDir: mothership.storageDir });
      expect(await checker.check()).toEqual([]);
    } finally {
      await db.close();
    }
  }
});
