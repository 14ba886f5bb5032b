import { randomUUID } from 'node:crypto';

import { BorgApiError, type NextTasksResponse } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { MAX_LONG_POLLS_PER_RUNNER } from '../src/dispatch/dispatcher.ts';

/**
 * Issue 18, overload that degrades: one runner token cannot park long-polls without bound, and
 * while every database connection is taken the mothership refuses new long-polls (503
 * OVERLOADED with a Retry-After) instead of queueing them in front of heartbeats and reports.
 * Either way, a runner's silence while the mothership could not keep up is not taken for the
 * runner gone.
 */
describe('long-polls under load', () => {
  const borg = useTestMothership({ config: { databasePoolSize: 2 } });

  it(`keeps at most ${MAX_LONG_POLLS_PER_RUNNER} long-polls of one runner waiting: a further one ends the oldest with nothing`, async () => {
    const runner = await borg().registerRunner({ labels: { suite: randomUUID() } });
    const before = borg().services.dispatcher.waiting;
    const polls: Array<{ settled: boolean; result: Promise<NextTasksResponse | null> }> = [];
    const open = () => {
      const poll = { settled: false, result: runner.client.nextTasks(runner.id, { wait: 3 }) };
      void poll.result.finally(() => (poll.settled = true));
      polls.push(poll);
    };
    for (let i = 0; i < MAX_LONG_POLLS_PER_RUNNER; i++) open();
    await expect.poll(() => borg().services.dispatcher.waiting - before).toBe(MAX_LONG_POLLS_PER_RUNNER);

    open();
    expect(await polls[0]!.result).toBeNull();
    await expect.poll(() => borg().services.dispatcher.waiting - before).toBe(MAX_LONG_POLLS_PER_RUNNER);
    expect(polls.slice(1).map((p) => p.settled)).toEqual([false, false, false, false]);

    // The others wait out their own wait.
    expect(await Promise.all(polls.slice(1).map((p) => p.result))).toEqual([null, null, null, null]);
  });

  it.runIf(process.env.BORG_TEST_DATABASE_URL)(
    'refuses new long-polls with 503 OVERLOADED and a Retry-After while queries wait for connections, and answers heartbeats',
    async () => {
      const runner = await borg().registerRunner({ labels: { suite: randomUUID() } });
      const db = borg().db;
      // Its token is checked once and then cached, so the long-poll below reaches the dispatcher at once.
      await runner.client.heartbeat(runner.id, {});
      const health = borg().services.health;
      expect(health.msSinceFailure()).toBe(Infinity);
      // Two slow statements take both connections; two more wait for one.
      const held = Array.from({ length: 4 }, () => db.query('SELECT pg_sleep(2)'));
      await expect.poll(() => db.waitingForConnection?.() ?? 0).toBeGreaterThanOrEqual(2);

      const refused = await runner.client.nextTasks(runner.id, { wait: 10 }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(BorgApiError);
      expect(refused).toMatchObject({ status: 503, code: 'OVERLOADED', retryable: true });
      // Back after about the wait it asked for (half of it to all of it), not in a storm of retries.
      expect((refused as BorgApiError).retryAfterSeconds).toBeGreaterThanOrEqual(5);
      expect((refused as BorgApiError).retryAfterSeconds).toBeLessThanOrEqual(10);
      // Runners' silence while the mothership cannot keep up is its own: the reaper waits a window.
      expect(health.msSinceFailure()).toBeLessThan(60_000);

      // A heartbeat is not refused: it waits its turn for a connection and is answered.
      const heartbeat = runner.client.heartbeat(runner.id, {});
      await Promise.all(held);
      await expect(heartbeat).resolves.toMatchObject({ ok: true });

      // With the connections free again, long-polls are taken.
      await expect(runner.client.nextTasks(runner.id, { wait: 0 })).resolves.toBeNull();
      const poll = runner.client.nextTasks(runner.id, { wait: 1 });
      await expect(poll).resolves.toBeNull();
    },
  );
});

describe('a mothership that was stalled', () => {
  const borg = useTestMothership({
    maintenance: true,
    config: { heartbeatIntervalSeconds: 1, maintenanceTickMs: 50 },
  });

  it('knows it: after its event loop was blocked past a heartbeat interval, the reaper waits a window', async () => {
    const health = borg().services.health;
    expect(health.msSinceFailure()).toBe(Infinity);
    const blockedUntil = performance.now() + 1_500;
    while (performance.now() < blockedUntil) {
      // the whole process stalls: no timer, no request, no heartbeat is handled
    }
    await expect.poll(() => health.msSinceFailure(), { timeout: 5_000 }).toBeLessThan(5_000);
  });
});
