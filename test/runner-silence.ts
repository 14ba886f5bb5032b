import { expect } from 'vitest';

import type { TestMothership, TestRunner } from './test-mothership.ts';

/**
 * A runner that stops heartbeating is taken for lost: this makes the mothership the maintenance
 * leader and waits out its start-up grace, waits until the runner has been silent for longer
 * than the offline window (on the database's clock), and runs one maintenance round, which marks
 * it offline and takes its tasks back.
 */
export async function reapSilentRunner(borg: TestMothership, runner: TestRunner, windowSeconds: number): Promise<void> {
  await borg.tick();
  await expect.poll(() => borg.mothership.maintenance.inGracePeriod(), { timeout: 15_000 }).toBe(false);
  await expect
    .poll(
      async () =>
        (
          await borg.db.query<{ ok: boolean }>(
            'SELECT last_heartbeat < now() - make_interval(secs => $2::double precision) AS ok FROM runners WHERE id = $1',
            [runner.id, windowSeconds + 0.2],
          )
        ).rows[0]?.ok,
      { timeout: 15_000, message: `the runner to be silent for ${windowSeconds} s` },
    )
    .toBe(true);
  await borg.tick();
}
