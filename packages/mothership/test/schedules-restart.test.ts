import { describe, expect, it } from 'vitest';

import { type TestMothership, useTestMothership } from '../../../test/test-mothership.ts';
import { eventually } from '../../../test/test-solder.ts';

/**
 * Schedules across mothership restarts and crashes, on the engine under test: a restart neither
 * fires a slot twice nor skips one; after a downtime, catch_up decides what the missed slots get;
 * a fire cut off between its job's insert and its release is finished once by the next scheduler.
 */
const idleJob = { name: 'tick', command: 'true', labels: { nobody: 'here' } };

async function slotsOf(borg: TestMothership, scheduleId: string) {
  const { rows } = await borg.db.query<{ slot: Date; jobs: number }>(
    `SELECT scheduled_for AS slot, count(*)::integer AS jobs FROM jobs
      WHERE schedule_id = $1 GROUP BY scheduled_for ORDER BY scheduled_for`,
    [scheduleId],
  );
  return rows.map((row) => ({ slot: row.slot.getTime(), jobs: row.jobs }));
}

/** Wakes the scheduler after a change made behind its back (SQL), as an API change would. */
function wake(borg: TestMothership, scheduleId: string) {
  borg.mothership.bus.publish({ type: 'schedules.changed', schedule_id: scheduleId });
}

describe('schedules across restarts (grace 60 s)', () => {
  const borg = useTestMothership();

  it('neither fires a slot twice nor skips one when the mothership restarts', { timeout: 90_000 }, async () => {
    const created = await borg().admin.createSchedule({
      name: 'through restarts',
      cron: '* * * * * *',
      overlap: 'allow',
      job: idleJob,
    });
    for (let restart = 0; restart < 2; restart++) {
      const before = (await slotsOf(borg(), created.id)).length;
      await eventually(async () => (await slotsOf(borg(), created.id)).length >= before + 2);
      await borg().restart();
    }
    const before = (await slotsOf(borg(), created.id)).length;
    await eventually(async () => (await slotsOf(borg(), created.id)).length >= before + 2);
    await borg().admin.updateSchedule(created.id, { paused: true });

    const slots = await slotsOf(borg(), created.id);
    expect(slots.filter((s) => s.jobs !== 1)).toEqual([]);
    // The slots of the restarts themselves were late, not missed: they fired on the next start.
    for (let i = 1; i < slots.length; i++) expect(slots[i]!.slot - slots[i - 1]!.slot).toBe(1_000);
  });

  it('finishes once a fire that was cut off between its job and its release', async () => {
    const created = await borg().admin.createSchedule({
      name: 'cut off',
      cron: '* * * * *',
      paused: true,
      job: idleJob,
    });
    // A replica claimed this minute's slot, inserted its job, and died before releasing the claim.
    const { rows } = await borg().db.query<{ slot: Date }>("SELECT date_trunc('minute', now()) AS slot");
    const slot = rows[0]!.slot;
    const me = await borg().admin.whoami();
    const creator = { kind: 'user' as const, tokenId: me.token_id, name: me.name, runnerId: null, role: null };
    const { job } = await borg().services.jobs.createJob(
      {
        ...idleJob,
        type: 'shell',
        priority: 0,
        max_attempts: 1,
        array_size: 1,
        files: [],
        artifacts: [],
        depends_on: [],
        inputs_from: [],
      },
      creator,
      undefined,
      { scheduleId: created.id, scheduledFor: slot },
    );
    await borg().db.query(
      `UPDATE schedules SET paused = false, next_fire_at = $2, claimed_until = now() + interval '1 second'
        WHERE id = $1`,
      [created.id, slot],
    );
    wake(borg(), created.id);

    // Once the dead replica's claim lapses, this one takes the slot: the job exists, so it is
    // recorded, not made again, and the next fire moves on.
    const after = await eventually(async () => {
      const s = await borg().admin.getSchedule(created.id);
      return s.next_fire_at !== slot.toISOString() && s;
    });
    expect(after.last_fires).toEqual([
      expect.objectContaining({ scheduled_for: slot.toISOString(), outcome: 'created', job_id: job.id }),
    ]);
    expect(new Date(after.next_fire_at!).getTime()).toBe(slot.getTime() + 60_000);
    expect(await slotsOf(borg(), created.id)).toEqual([{ slot: slot.getTime(), jobs: 1 }]);
  });

  it('with catch_up last, fires once for the latest slot missed while no scheduler ran', async () => {
    // Hourly, half an hour from now: its latest slot is half an hour old (missed, not late).
    const { rows } = await borg().db.query<{ minute: number }>(
      "SELECT ((EXTRACT(MINUTE FROM now() AT TIME ZONE 'UTC')::integer + 30) % 60) AS minute",
    );
    const created = await borg().admin.createSchedule({
      name: 'catches up',
      cron: `${rows[0]!.minute} * * * *`,
      catch_up: 'last',
      paused: true,
      job: idleJob,
    });
    // As a scheduler finds it after a day down: its next fire 24 slots ago.
    await borg().db.query(
      `UPDATE schedules SET paused = false, next_fire_at = now() - interval '1 day' WHERE id = $1`,
      [created.id],
    );
    wake(borg(), created.id);
    // A fire is recorded with its job, then released (next_fire_at moved on) by a second step:
    // wait for both.
    const after = await eventually(async () => {
      const s = await borg().admin.getSchedule(created.id);
      return s.last_fires.length > 0 && s.next_fire_at !== null && Date.parse(s.next_fire_at) > Date.now() && s;
    });
    const slots = await slotsOf(borg(), created.id);
    expect(slots).toHaveLength(1);
    const { rows: clock } = await borg().db.query<{ now: Date }>('SELECT now() AS now');
    const now = clock[0]!.now.getTime();
    const age = now - slots[0]!.slot;
    expect(age).toBeGreaterThan(25 * 60_000);
    expect(age).toBeLessThan(35 * 60_000);
    expect(after.last_fires).toEqual([expect.objectContaining({ outcome: 'created', trigger: 'cron' })]);
    expect(new Date(after.next_fire_at!).getTime() - now).toBeGreaterThan(25 * 60_000);
  });
});

describe('schedules after a downtime longer than the grace (1 s)', () => {
  const borg = useTestMothership({ config: { scheduleGraceSeconds: 1 } });

  it(
    'with catch_up none, fires none of the slots missed while it was down, and records that it missed them',
    {
      timeout: 60_000,
    },
    async () => {
      const created = await borg().admin.createSchedule({
        name: 'no catching up',
        cron: '* * * * * *',
        overlap: 'allow',
        job: idleJob,
      });
      await eventually(async () => (await slotsOf(borg(), created.id)).length >= 2);
      await borg().stop();
      const downAt = Date.now();
      // Four seconds down (the downtime is what is tested, not a wait for something).
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      await borg().boot();
      await eventually(async () => (await slotsOf(borg(), created.id)).some((s) => s.slot > downAt + 4_000));
      await borg().admin.updateSchedule(created.id, { paused: true });

      const slots = await slotsOf(borg(), created.id);
      expect(slots.filter((s) => s.jobs !== 1)).toEqual([]);
      // Nothing for the slots of the downtime that were more than the grace old at the start.
      expect(slots.filter((s) => s.slot > downAt + 500 && s.slot < downAt + 4_000 - 1_500)).toEqual([]);
      const missed = (await borg().admin.getSchedule(created.id)).last_fires.find((f) => f.outcome === 'skipped');
      expect(missed?.reason).toMatch(
        /^missed (this slot|\d+ slots \(from .+\)): no mothership was running then \(catch_up: none\)$/,
      );
    },
  );
});
