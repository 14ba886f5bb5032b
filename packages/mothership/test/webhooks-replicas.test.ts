import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENGINE } from '../../../test/test-database.ts';
import { type TestMothership, useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { WebhookReceiver } from '../../../test/webhook-receiver.ts';
import type { Mothership } from '../src/mothership.ts';
import { webhookDeliveryStore } from '../src/webhooks/webhook-delivery-store.ts';

const SETTINGS = {
  webhookAllowPrivate: true,
  webhookRetryBaseMs: 50,
  maintenanceTickMs: 100,
};

/**
 * Two replicas on one PostgreSQL database, both running the webhook worker: each delivery is
 * enqueued once (where the event happened, and a second publish of it anywhere adds nothing)
 * and sent once (the claim takes each due delivery for one replica). PostgreSQL only: PGlite
 * belongs to one process.
 */
describe.skipIf(ENGINE !== 'postgres')('webhooks on two replicas of one database', { timeout: 120_000 }, () => {
  const borg = useTestMothership({ config: SETTINGS }); // replica A
  let replica: Awaited<ReturnType<TestMothership['startReplica']>>;
  let b: Mothership;
  let receiver: WebhookReceiver;
  let solder: InProcessSolder;

  beforeAll(async () => {
    replica = await borg().startReplica();
    b = replica.mothership;
    receiver = await WebhookReceiver.start();
    // The jobs' events happen on B: its solder reports there.
    solder = await startSolder(
      { url: replica.url, registrationToken: borg().registrationToken },
      { maxConcurrentTasks: 4 },
    );
  });

  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
    await replica?.close();
    await receiver?.close();
  });

  it('delivers each job ending once, though both replicas publish it and both send', async () => {
    // Created on A: B hears of it through NOTIFY and enqueues the endings that happen on it.
    const hook = await borg().admin.createWebhook({ url: receiver.url, events: ['job.succeeded'] });
    const jobs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => borg().admin.createJob({ name: `replicated ${i}`, command: 'true' })),
    );
    for (const job of jobs) {
      const done = await finishedJob(borg(), job.id);
      // The same ending published again, on both replicas: the dedupe key makes it nothing.
      const view = (await borg().admin.listJobs({ limit: 500 })).items.find((j) => j.id === done.id)!;
      borg().mothership.bus.publish({ type: 'job.updated', job: view });
      b.bus.publish({ type: 'job.updated', job: view });
    }
    for (const job of jobs) await eventually(() => receiver.of('job.succeeded', job.id)[0]);
    await eventually(async () => {
      const { items } = await borg().admin.listWebhookDeliveries(hook.id, { limit: 100 });
      return items.length === jobs.length && items.every((d) => d.status === 'delivered' && d.attempts === 1);
    });
    const perJob = jobs.map((job) => receiver.of('job.succeeded', job.id).length);
    expect(perJob).toEqual(jobs.map(() => 1));
    expect(receiver.received).toHaveLength(jobs.length);
  });

  it('never hands one due delivery to two claims: claims racing on both replicas (and both workers) take each once', async () => {
    const hook = await borg().admin.createWebhook({ url: receiver.url, events: ['job.skipped'] });
    await borg().db.query(
      `INSERT INTO webhook_deliveries (webhook_id, event, data, event_at, next_attempt_at)
       SELECT $1, 'job.skipped', '{}'::json, now(), now() - interval '1 second' FROM generate_series(1, 300)`,
      [hook.id],
    );
    // Two claim loops per replica race the replicas' own workers (which send what they take).
    const claimed: Record<'a' | 'b', string[]> = { a: [], b: [] };
    const race = async (name: 'a' | 'b', db: Mothership['db']) => {
      for (;;) {
        const batch = await webhookDeliveryStore.claimDue(db, 7, 600);
        if (batch.length === 0) return;
        claimed[name].push(...batch.filter((d) => d.webhookId === hook.id).map((d) => d.id));
      }
    };
    await Promise.all([race('a', borg().db), race('b', b.db), race('a', borg().db), race('b', b.db)]);
    const ours = [...claimed.a, ...claimed.b];
    expect(new Set(ours).size).toBe(ours.length);
    expect(claimed.a.length).toBeGreaterThan(0);
    expect(claimed.b.length).toBeGreaterThan(0);
    // Every one was claimed, by a loop or a worker, and none twice: one attempt each.
    const { rows } = await borg().db.query<{ attempts: number; n: number }>(
      `SELECT attempts, count(*)::integer AS n FROM webhook_deliveries WHERE webhook_id = $1 GROUP BY attempts`,
      [hook.id],
    );
    expect(rows).toEqual([{ attempts: 1, n: 300 }]);
    await borg().admin.deleteWebhook(hook.id);
  });
});
