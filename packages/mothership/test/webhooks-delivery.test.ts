import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { BORG_VERSION, type CreatedWebhook } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, finishedJob, type InProcessSolder, spawnSolder, startSolder } from '../../../test/test-solder.ts';
import { type ReceivedDelivery, signatureMatches, WebhookReceiver } from '../../../test/webhook-receiver.ts';

const SECRET = 'the receiver and borg share this';

/**
 * Webhooks delivered from real jobs on a real mothership with a real solder, to a real HTTP
 * receiver on 127.0.0.1 (allowed by BORG_WEBHOOK_ALLOW_PRIVATE). The backoff is shortened by
 * its setting and the worker looks for due deliveries every 100 ms, so a retry comes in well
 * under a second; every wait is on a condition.
 */
/** The first jobs wait for the solder to start and claim: generous on a loaded machine. */
const JOB_WAIT_MS = 60_000;

describe('webhook deliveries from real jobs', { timeout: 120_000 }, () => {
  const borg = useTestMothership({
    config: {
      webhookAllowPrivate: true,
      webhookRetryBaseMs: 50,
      maintenanceTickMs: 100,
      heartbeatIntervalSeconds: 1,
    },
  });
  let receiver: WebhookReceiver;
  let hook: CreatedWebhook;
  let solder: InProcessSolder;
  const admin = () => borg().admin;

  const deliveriesOf = async (webhookId: string) => (await admin().listWebhookDeliveries(webhookId)).items;
  const deliveryFor = (webhookId: string, id: string) =>
    eventually(async () => (await deliveriesOf(webhookId)).find((d) => d.id === id));

  /** Each delivery a receiver got, checked as a receiver would check it. */
  function expectSignedBy(delivery: ReceivedDelivery, secret: string) {
    expect(delivery.headers['content-type']).toBe('application/json');
    expect(delivery.headers['user-agent']).toBe(`borg-webhooks/${BORG_VERSION}`);
    expect(delivery.headers['x-borg-event']).toBe(delivery.payload.event);
    expect(delivery.headers['x-borg-delivery']).toBe(delivery.payload.id);
    expect(delivery.headers['x-borg-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signatureMatches(delivery.body, secret, delivery.headers['x-borg-signature'])).toBe(true);
    expect(signatureMatches(delivery.body, 'another secret', delivery.headers['x-borg-signature'])).toBe(false);
    expect(Object.keys(delivery.payload)).toEqual(['id', 'event', 'created_at', 'data']);
  }

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    hook = await admin().createWebhook({
      url: receiver.url,
      events: ['job.succeeded', 'job.failed', 'task.lost', 'runner.offline', 'runner.online'],
      secret: SECRET,
    });
    solder = await startSolder(borg(), { name: 'hooks-solder', labels: { pool: 'hooks' } });
  });

  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
    await receiver?.close();
  });

  it('posts job.succeeded and job.failed, signed, with the event and delivery headers and the job as the API shows it', async () => {
    const ok = await admin().createJob({ name: 'hook ok', command: 'true', labels: { pool: 'hooks' } });
    const bad = await admin().createJob({ name: 'hook bad', command: 'exit 3', labels: { pool: 'hooks' } });
    const succeeded = await eventually(() => receiver.of('job.succeeded', ok.id)[0], JOB_WAIT_MS);
    const failed = await eventually(() => receiver.of('job.failed', bad.id)[0], JOB_WAIT_MS);
    expectSignedBy(succeeded, SECRET);
    expectSignedBy(failed, SECRET);

    const okJob = await finishedJob(borg(), ok.id);
    const badJob = await finishedJob(borg(), bad.id);
    expect(succeeded.payload).toMatchObject({
      event: 'job.succeeded',
      created_at: okJob.completed_at,
      data: { id: ok.id, name: 'hook ok', status: 'succeeded', completed_at: okJob.completed_at },
    });
    expect(failed.payload.data).toMatchObject({
      id: bad.id,
      status: 'failed',
      outcome: { failure: { exit_code: 3 } },
    });
    expect(badJob.status).toBe('failed');

    const delivery = await deliveryFor(hook.id, succeeded.payload.id);
    expect(delivery).toMatchObject({
      webhook_id: hook.id,
      event: 'job.succeeded',
      status: 'delivered',
      attempts: 1,
      response_status_code: 200,
      last_error: null,
      next_attempt_at: null,
      redelivery_of: null,
    });
    expect(delivery.response_time_ms).toEqual(expect.any(Number));
    expect((await admin().getWebhook(hook.id)).last_delivery).toMatchObject({ status: expect.any(String) });
  });

  it('posts task.lost and runner.offline when a solder dies mid-task, and runner.online when it comes back', async () => {
    const pool = `doomed-${randomUUID().slice(0, 8)}`;
    const dying = await spawnSolder(borg(), ['--labels', `pool=${pool}`, '--name', pool]);
    try {
      const job = await admin().createJob({ name: 'hook sleeper', command: 'sleep 60', labels: { pool } });
      const task = await eventually(
        async () => (await admin().getJob(job.id)).tasks.find((t) => t.status === 'running'),
        JOB_WAIT_MS,
      );
      dying.child.kill('SIGKILL');
      await dying.exited;
      // The reaper (maintenance, driven here) marks the silent runner offline and its task lost.
      const lost = await eventually(async () => {
        await borg().tick();
        return receiver.of('task.lost', task.id)[0];
      }, 30_000);
      const offline = await eventually(() => receiver.of('runner.offline', task.runner_id!)[0]);
      expectSignedBy(lost, SECRET);
      expectSignedBy(offline, SECRET);
      expect(lost.payload.data).toMatchObject({ id: task.id, job_id: job.id, status: 'lost', reason: 'runner_lost' });
      expect(offline.payload.data).toMatchObject({ id: task.runner_id, name: pool, status: 'offline' });

      // The same state directory: the same runner registers again and is back.
      const back = await spawnSolder(borg(), ['--labels', `pool=${pool}`, '--name', pool], dying.stateDir);
      try {
        const online = await eventually(() => receiver.of('runner.online', task.runner_id!)[0], JOB_WAIT_MS);
        expectSignedBy(online, SECRET);
        expect(online.payload.data).toMatchObject({ id: task.runner_id, name: pool });
        // Ended already, unless a lost attempt is retried on the runner that came back.
        await admin()
          .cancelJob(job.id)
          .catch(() => undefined);
      } finally {
        await back.cleanup();
      }
    } finally {
      await dying.cleanup();
    }
  });

  it('delivers on the retry when the receiver answers 500 once, recording both attempts', async () => {
    const flaky = await WebhookReceiver.start();
    try {
      const secret = (await admin().createWebhook({ url: flaky.url, events: ['job.succeeded'] })).secret!;
      const webhook = (await admin().listWebhooks()).items.find((w) => w.url === flaky.url)!;
      flaky.answers.push(500);
      const job = await admin().createJob({ name: 'hook retry', command: 'true', labels: { pool: 'hooks' } });
      await eventually(() => flaky.of('job.succeeded', job.id).find((d) => d.answered === 200), JOB_WAIT_MS);
      const [first, second] = flaky.of('job.succeeded', job.id);
      expect(first!.answered).toBe(500);
      expect(second!.body).toBe(first!.body);
      expect(second!.headers['x-borg-delivery']).toBe(first!.headers['x-borg-delivery']);
      expectSignedBy(second!, secret);

      const delivery = await eventually(async () =>
        (await deliveriesOf(webhook.id)).find((d) => d.status === 'delivered'),
      );
      expect(delivery).toMatchObject({ attempts: 2, response_status_code: 200, last_error: null });
      const detail = await admin().getWebhookDelivery(webhook.id, delivery.id);
      expect(detail.attempt_log).toEqual([
        {
          attempt: 1,
          started_at: expect.any(String),
          status_code: 500,
          duration_ms: expect.any(Number),
          error: 'the receiver answered 500',
          response_body: 'not now',
        },
        {
          attempt: 2,
          started_at: expect.any(String),
          status_code: 200,
          duration_ms: expect.any(Number),
          error: null,
          response_body: 'ok',
        },
      ]);
      expect(Date.parse(detail.attempt_log[1]!.started_at)).toBeGreaterThan(
        Date.parse(detail.attempt_log[0]!.started_at),
      );

      // Redelivery: a new delivery (its own id and attempts) of the same event and data.
      const again = await admin().redeliverWebhookDelivery(webhook.id, delivery.id);
      expect(again).toMatchObject({ event: 'job.succeeded', redelivery_of: delivery.id, attempts: 0 });
      expect(again.id).not.toBe(delivery.id);
      const third = await eventually(() => flaky.received.find((d) => d.payload.id === again.id));
      expect(third.payload).toEqual({ ...first!.payload, id: again.id });
      expectSignedBy(third, secret);
      await eventually(async () => (await deliveryFor(webhook.id, again.id)).status === 'delivered');
      const listed = await deliveriesOf(webhook.id);
      expect(listed.map((d) => d.id)).toEqual([again.id, delivery.id]); // newest first
    } finally {
      await flaky.close();
    }
  });

  it("sends '*' webhooks every event, inactive ones none, and pings on request", async () => {
    const all = await WebhookReceiver.start();
    const quiet = await WebhookReceiver.start();
    try {
      const star = await admin().createWebhook({ url: all.url, events: ['*'] });
      const off = await admin().createWebhook({ url: quiet.url, events: ['job.succeeded'] });
      await admin().updateWebhook(off.id, { active: false });
      const job = await admin().createJob({ name: 'hook star', command: 'true', labels: { pool: 'hooks' } });
      const seen = await eventually(() => all.of('job.succeeded', job.id)[0], JOB_WAIT_MS);
      expectSignedBy(seen, star.secret!);
      // One statement enqueues for every webhook at once: the inactive one got none.
      expect(await deliveriesOf(off.id)).toEqual([]);

      const ping = await admin().pingWebhook(off.id);
      expect(ping).toMatchObject({ event: 'ping', status: 'delivered', attempts: 1, response_status_code: 200 });
      const pinged = quiet.received.at(-1)!;
      expect(pinged.payload).toMatchObject({ id: ping.id, event: 'ping', data: { id: off.id, url: quiet.url } });
      expect(pinged.payload.data).not.toHaveProperty('secret');
      expectSignedBy(pinged, off.secret!);
      expect(quiet.received).toHaveLength(1);
    } finally {
      await all.close();
      await quiet.close();
    }
  });

  it('sent each occurrence once per webhook, and counts deliveries on /metrics', async () => {
    const keys = receiver.received
      .filter((d) => d.answered === 200)
      .map((d) => `${d.payload.event} ${String(d.payload.data.id)} ${d.payload.created_at}`);
    expect(keys.length).toBeGreaterThan(4);
    expect(new Set(keys).size).toBe(keys.length);
    const ids = receiver.received.map((d) => d.payload.id);
    expect(new Set(ids).size).toBe(ids.length);

    const metrics = await rawRequest(borg().url, { path: '/metrics', token: borg().adminToken });
    const text = String(metrics.body);
    expect(Number(/^borg_webhook_deliveries_total\{outcome="delivered"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(5);
    expect(Number(/^borg_webhook_deliveries_total\{outcome="retrying"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^borg_webhook_deliveries_pending \d+$/m);
  });

  // Last: the restart starts the counters on /metrics again.
  it('re-encrypts webhook secrets under a new key at a restart, and still signs with the same secret', async () => {
    const keyFile = join(borg().database.dataDir, 'secret.key');
    const previous = (await readFile(keyFile, 'utf8')).trim();
    const current = randomBytes(32).toString('hex');
    const keyIds = async () =>
      (await borg().db.query<{ key_id: string }>('SELECT DISTINCT secret_key_id AS key_id FROM webhooks')).rows;
    const before = await keyIds();
    await borg().restart({ config: { secretKey: current, previousSecretKey: previous } });
    const after = await keyIds();
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    const ping = await admin().pingWebhook(hook.id);
    expect(ping.status).toBe('delivered');
    const pinged = receiver.received.find((d) => d.payload.id === ping.id)!;
    expectSignedBy(pinged, SECRET);
  });
});
