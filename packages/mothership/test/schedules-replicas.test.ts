import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CreateJobRequest } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENGINE } from '../../../test/test-database.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually } from '../../../test/test-solder.ts';
import { loadConfig } from '../src/config.ts';
import { type Mothership, startMothership } from '../src/mothership.ts';

/**
 * Exactly one job per schedule and slot with three replicas firing from one PostgreSQL database:
 * a schedule every 2 seconds for about 20 seconds, then the jobs counted by scheduled_for. Every
 * replica runs a scheduler; they share the due schedules (SKIP LOCKED), and the jobs' unique key
 * makes any slot two of them reach a single job.
 *
 * PostgreSQL only: the embedded engine belongs to one process, so there is no second replica.
 */
describe.skipIf(ENGINE !== 'postgres')('a schedule on three mothership replicas', () => {
  const borg = useTestMothership(); // replica A
  const others: Mothership[] = [];
  const dataDirs: string[] = [];

  beforeAll(async () => {
    for (const name of ['b', 'c']) {
      const dataDir = await mkdtemp(join(tmpdir(), `borg-sched-replica-${name}-`));
      dataDirs.push(dataDir);
      const replica = await startMothership(
        loadConfig(
          {
            host: '127.0.0.1',
            port: 0,
            databaseUrl: borg().database.databaseUrl,
            dataDir,
            adminToken: borg().adminToken,
            registrationToken: borg().registrationToken,
            logLevel: 'silent',
          },
          {},
        ),
        { maintenance: false },
      );
      others.push(replica);
      await replica.listen();
    }
  });

  afterAll(async () => {
    for (const replica of others) await replica.close();
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  });

  it('fires each 2-second slot exactly once over 20 seconds, with no gap', { timeout: 60_000 }, async () => {
    const created = await borg().admin.createSchedule({
      name: 'every two seconds',
      cron: '*/2 * * * * *',
      overlap: 'allow',
      job: { name: 'tick', command: 'true', labels: { nobody: 'here' } },
    });
    const startedAt = Date.now();
    type SlotRow = { slot: Date; jobs: number; lateness_ms: number };
    const slots = async () =>
      (
        await borg().db.query<SlotRow>(
          `SELECT scheduled_for AS slot, count(*)::integer AS jobs,
                  (max(EXTRACT(EPOCH FROM created_at - scheduled_for)) * 1000)::float8 AS lateness_ms
             FROM jobs WHERE schedule_id = $1 GROUP BY scheduled_for ORDER BY scheduled_for`,
          [created.id],
        )
      ).rows;
    // Ten slots after the first: about 20 seconds of firing.
    await eventually(async () => (await slots()).length >= 11, 45_000, '11 slots fired');
    await borg().admin.updateSchedule(created.id, { paused: true });
    const rows = await slots();

    expect(rows.every((row) => row.jobs === 1)).toBe(true);
    const times = rows.map((row) => row.slot.getTime());
    for (let i = 1; i < times.length; i++)
      expect(times[i]! - times[i - 1]!, `gap after ${rows[i - 1]!.slot.toISOString()}`).toBe(2_000);
    // The first slot is the first one after the schedule was created.
    expect(times[0]!).toBeLessThanOrEqual(startedAt + 2_500);

    // Each slot is recorded once as created, and nothing was skipped or failed.
    const fires = await borg().db.query<{ outcome: string; n: number }>(
      'SELECT outcome, count(*)::integer AS n FROM schedule_fires WHERE schedule_id = $1 GROUP BY outcome',
      [created.id],
    );
    expect(fires.rows).toEqual([{ outcome: 'created', n: rows.length }]);

    // The replicas shared the work: each one's counter, summed, is the number of fires.
    const counted = await Promise.all(
      [borg().mothership, ...others].map(async (replica) => {
        const text = await replica.services.metrics.render();
        return Number(/borg_schedule_fires_total\{outcome="created",trigger="cron"\} (\d+)/.exec(text)?.[1] ?? 0);
      }),
    );
    expect(counted.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(rows.length);

    const lateness = rows.map((row) => row.lateness_ms).sort((a, b) => a - b);
    const median = lateness[Math.floor(lateness.length / 2)]!;
    const worst = lateness.at(-1)!;
    console.log(
      `schedule on 3 replicas: ${rows.length} slots, each fired once; lateness median ${median.toFixed(1)} ms, max ${worst.toFixed(1)} ms; fires per replica ${counted.join('/')}`,
    );
    expect(worst).toBeLessThan(2_000);
  });

  it('makes one job of a slot that all three replicas fire at the same moment (the unique key decides)', async () => {
    const created = await borg().admin.createSchedule({
      name: 'raced',
      cron: '0 3 * * *',
      paused: true,
      job: { name: 'raced', command: 'true', labels: { nobody: 'here' } },
    });
    const me = await borg().admin.whoami();
    const creator = { kind: 'user' as const, tokenId: me.token_id, name: me.name, runnerId: null, role: null };
    const spec = CreateJobRequest.parse(created.job);
    for (let round = 0; round < 20; round++) {
      const origin = { scheduleId: created.id, scheduledFor: new Date(Date.UTC(2030, 0, 1, 3, 0, round)) };
      const results = await Promise.all(
        [borg().mothership, ...others].map((replica) =>
          replica.services.jobs.createJob(spec, creator, undefined, origin),
        ),
      );
      expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
    }
    const { rows } = await borg().db.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM jobs WHERE schedule_id = $1',
      [created.id],
    );
    expect(rows[0]!.n).toBe(20);
  });
});
