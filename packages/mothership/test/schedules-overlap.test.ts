import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

/**
 * overlap: skip with a real solder running a job longer than the schedule's interval: while its
 * job runs, the slots are recorded as skipped (naming the running job), and no second job starts.
 */
describe('a schedule whose job outlasts its interval, with overlap skip', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;

  beforeAll(async () => {
    solder = await startSolder(borg(), { labels: 'sched-overlap=yes', maxConcurrentTasks: 4 });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  it(
    'skips the slots that come while its job runs, and fires again once it has ended',
    { timeout: 60_000 },
    async () => {
      const created = await borg().admin.createSchedule({
        name: 'slow nightly',
        cron: '* * * * * *',
        overlap: 'skip',
        job: { name: 'slow', command: 'sleep 3', labels: { 'sched-overlap': 'yes' } },
      });
      // Two jobs made, with the second one's slot after the first ended.
      const fired = await eventually(
        async () => {
          const s = await borg().admin.getSchedule(created.id);
          return s.last_fires.filter((f) => f.outcome === 'created').length >= 2 && s;
        },
        30_000,
        'two jobs from the schedule',
      );
      await borg().admin.updateSchedule(created.id, { paused: true });

      const { rows } = await borg().db.query<{
        id: string;
        created_at: Date;
        completed_at: Date | null;
        status: string;
      }>('SELECT id, created_at, completed_at, status FROM jobs WHERE schedule_id = $1 ORDER BY scheduled_for', [
        created.id,
      ]);
      const [first, second] = rows;
      expect(first!.status).toBe('succeeded');
      // No job of the schedule was made while the first one ran.
      expect(second!.created_at.getTime()).toBeGreaterThanOrEqual(first!.completed_at!.getTime());
      const whileRunning = fired.last_fires.filter(
        (f) => new Date(f.scheduled_for) > first!.created_at && new Date(f.scheduled_for) < first!.completed_at!,
      );
      expect(whileRunning.length).toBeGreaterThanOrEqual(1);
      for (const fire of whileRunning) {
        expect(fire).toMatchObject({
          outcome: 'skipped',
          job_id: null,
          reason: expect.stringMatching(
            new RegExp(`^job ${first!.id} \\(for .+\\) has not ended \\(overlap: skip\\)$`),
          ),
        });
      }
    },
  );
});
