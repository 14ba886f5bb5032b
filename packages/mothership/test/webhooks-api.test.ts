import { Writable } from 'node:stream';

import { BorgApiError, BorgClient, WEBHOOK_EVENTS } from '@borg/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, type TestDatabase } from '../../../test/test-database.ts';
import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';
import { WebhookReceiver } from '../../../test/webhook-receiver.ts';
import { loadConfig } from '../src/config.ts';
import { type Mothership, startMothership } from '../src/mothership.ts';
import { webhookDeliveryStore } from '../src/webhooks/webhook-delivery-store.ts';
import { KEEP_ENDED_DELIVERIES_DAYS } from '../src/webhooks/webhook-worker.ts';

/** The API error a call fails with. */
async function refusal(call: Promise<unknown>): Promise<BorgApiError> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BorgApiError);
  return error as BorgApiError;
}

describe('webhooks: the API, its rules and who may use it', () => {
  // The mothership's own rule: private addresses refused, as in production.
  const borg = useTestMothership();
  let receiver: WebhookReceiver;
  const admin = () => borg().admin;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('refuses a literal loopback, link-local, private or unspecified address at creation, and other schemes or credentials in the URL', async () => {
    const cases: Array<[string, RegExp]> = [
      [receiver.url, /127\.0\.0\.1 is loopback; set BORG_WEBHOOK_ALLOW_PRIVATE=true/],
      ['http://[::1]:8080/x', /::1 is loopback/],
      ['http://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is link-local/],
      ['http://10.1.2.3/', /10\.1\.2\.3 is private/],
      ['http://192.168.0.10/', /is private/],
      ['http://172.20.0.1/', /is private/],
      ['http://[fd00::1]/', /is private \(unique local\)/],
      ['http://[fe80::1]/', /is link-local/],
      ['http://0.0.0.0:9/', /0\.0\.0\.0 is unspecified/],
      // Other spellings of 127.0.0.1 are read as the URL standard reads them.
      ['http://2130706433/', /127\.0\.0\.1 is loopback/],
      ['http://[::ffff:127.0.0.1]/', /is loopback/],
      ['ftp://example.com/hook', /url must be http:\/\/ or https:\/\/, not ftp:\/\//],
      ['file:///etc/passwd', /url must be http:\/\/ or https:\/\//],
      ['https://user:pass@example.com/hook', /must not carry a user name or password/],
      ['not a url', /absolute http/],
    ];
    for (const [url, message] of cases) {
      const error = await refusal(admin().createWebhook({ url, events: ['job.failed'] }));
      expect(error.status, url).toBe(400);
      expect(error.message, url).toMatch(message);
    }
    expect((await admin().listWebhooks()).items).toEqual([]);
  });

  it('refuses unknown events with the list of known ones, and an empty list', async () => {
    const error = await refusal(admin().createWebhook({ url: 'https://example.invalid/h', events: ['job.exploded'] }));
    expect(error.status).toBe(400);
    expect(error.message).toContain('unknown event "job.exploded"');
    for (const event of [...WEBHOOK_EVENTS, '*']) expect(error.message).toContain(event);
    const empty = await refusal(admin().createWebhook({ url: 'https://example.invalid/h', events: [] }));
    expect(empty.message).toContain('at least one event');
    const short = await refusal(
      admin().createWebhook({ url: 'https://example.invalid/h', events: ['job.failed'], secret: 'short' }),
    );
    expect(short.message).toContain('at least 16 characters');
  });

  it('creates, shows, changes and deletes a webhook; a generated secret is shown once, and never again', async () => {
    const created = await admin().createWebhook({
      url: 'https://hooks.example.invalid/borg',
      events: ['job.failed', 'task.lost', 'job.failed'],
    });
    expect(created).toMatchObject({
      url: 'https://hooks.example.invalid/borg',
      events: ['job.failed', 'task.lost'],
      active: true,
      secret_set: true,
      last_delivery: null,
    });
    expect(created.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const secret = created.secret!;

    const chosen = await admin().createWebhook({
      url: 'https://hooks.example.invalid/other',
      events: ['*'],
      secret: 'a secret chosen by hand',
    });
    expect(chosen.secret).toBeNull();

    const shown = await rawRequest(borg().url, { path: `/api/v1/webhooks/${created.id}`, token: borg().adminToken });
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual({ ...created, secret: undefined, updated_at: expect.any(String) });
    const listed = await rawRequest(borg().url, { path: '/api/v1/webhooks', token: borg().adminToken });
    expect((listed.body as { items: unknown[] }).items).toHaveLength(2);
    for (const text of [JSON.stringify(shown.body), JSON.stringify(listed.body)]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('a secret chosen by hand');
    }

    const changed = await admin().updateWebhook(created.id, {
      events: ['runner.offline'],
      active: false,
      secret: 'another secret, by hand',
    });
    expect(changed).toMatchObject({ events: ['runner.offline'], active: false, secret_set: true });
    expect(JSON.stringify(changed)).not.toContain('another secret');
    const unsigned = await admin().updateWebhook(created.id, { secret: null });
    expect(unsigned.secret_set).toBe(false);
    expect((await refusal(admin().updateWebhook(created.id, {}))).message).toContain('at least one of');
    expect((await refusal(admin().updateWebhook(created.id, { url: 'http://127.0.0.2/' }))).status).toBe(400);

    // Stored sealed: the database holds no secret in clear.
    const { rows } = await borg().db.query<{ row: string }>('SELECT row_to_json(w)::text AS row FROM webhooks w');
    for (const { row } of rows) {
      expect(row).not.toContain(secret);
      expect(row).not.toContain('a secret chosen by hand');
      expect(row).not.toContain(Buffer.from('a secret chosen by hand').toString('hex'));
    }

    expect((await admin().deleteWebhook(created.id)).id).toBe(created.id);
    const gone = await refusal(admin().getWebhook(created.id));
    expect(gone.status).toBe(404);
    expect(gone.code).toBe('WEBHOOK_NOT_FOUND');
    await admin().deleteWebhook(chosen.id);

    // The audit log names each change and its webhook, never a secret.
    const audit = await admin().listAudit({ limit: 50 });
    const actions = audit.items.filter((e) => e.action.startsWith('webhook.'));
    expect(actions.map((e) => e.action)).toEqual(
      expect.arrayContaining(['webhook.create', 'webhook.update', 'webhook.delete']),
    );
    expect(actions.find((e) => e.action === 'webhook.create' && e.outcome === 'ok')?.object?.type).toBe('webhook');
    expect(JSON.stringify(audit)).not.toContain(secret);
  });

  it('refuses viewers, operators and runners, and calls without a valid token', async () => {
    // An event this file never causes: nothing is sent anywhere.
    const hook = await admin().createWebhook({ url: 'https://hooks.example.invalid/roles', events: ['job.skipped'] });
    const tokens: Record<string, string> = {};
    for (const role of ['viewer', 'submitter', 'operator'] as const) {
      tokens[role] = (await admin().createToken({ name: `hooks ${role}`, role })).token;
    }
    tokens.runner = (await borg().registerRunner()).token;
    const calls: Array<[string, string, string?]> = [
      ['GET', '/api/v1/webhooks'],
      ['POST', '/api/v1/webhooks', JSON.stringify({ url: 'https://example.invalid/x', events: ['*'] })],
      ['GET', `/api/v1/webhooks/${hook.id}`],
      ['PATCH', `/api/v1/webhooks/${hook.id}`, JSON.stringify({ active: false })],
      ['DELETE', `/api/v1/webhooks/${hook.id}`],
      ['GET', `/api/v1/webhooks/${hook.id}/deliveries`],
      ['POST', `/api/v1/webhooks/${hook.id}/ping`],
      ['POST', `/api/v1/webhooks/${hook.id}/deliveries/${hook.id}/redeliver`],
    ];
    for (const [method, path, body] of calls) {
      for (const [who, token] of Object.entries(tokens)) {
        const answer = await rawRequest(borg().url, { method, path, token, body });
        expect(answer.status, `${who} ${method} ${path}`).toBe(403);
      }
      const anonymous = await rawRequest(borg().url, { method, path, body });
      expect(anonymous.status, `no token ${method} ${path}`).toBe(401);
    }
    // Nothing changed, nothing was sent.
    expect(await admin().getWebhook(hook.id)).toMatchObject({ active: true, last_delivery: null });
    await admin().deleteWebhook(hook.id);
  });

  it('refuses, at connect time, a name that resolves to loopback, and the delivery says why', async () => {
    const port = new URL(receiver.url).port;
    const hook = await admin().createWebhook({ url: `http://localhost:${port}/hook`, events: ['job.failed'] });
    const ping = await admin().pingWebhook(hook.id);
    expect(ping).toMatchObject({ event: 'ping', status: 'failed', attempts: 1, response_status_code: null });
    expect(ping.last_error).toMatch(/refused: localhost resolves to (127\.0\.0\.1 \(loopback\)|::1 \(loopback\))/);
    expect(ping.last_error).toContain('BORG_WEBHOOK_ALLOW_PRIVATE=true');
    expect(receiver.received).toEqual([]);
    const { items } = await admin().listWebhookDeliveries(hook.id);
    expect(items).toEqual([ping]);
    await admin().deleteWebhook(hook.id);
  });

  it('deletes deliveries that ended more than 30 days ago, never pending ones', async () => {
    const hook = await admin().createWebhook({ url: 'https://hooks.example.invalid/old', events: ['job.skipped'] });
    const { rows } = await borg().db.query<{ id: string; status: string }>(
      `INSERT INTO webhook_deliveries (webhook_id, event, data, event_at, status, next_attempt_at, created_at, completed_at)
       VALUES ($1, 'job.skipped', '{}', now(), 'delivered', NULL, now() - interval '40 days', now() - interval '31 days'),
              ($1, 'job.skipped', '{}', now(), 'failed', NULL, now() - interval '40 days', now() - interval '29 days'),
              ($1, 'job.skipped', '{}', now(), 'pending', now() + interval '1 hour', now() - interval '40 days', NULL)
       RETURNING id, status`,
      [hook.id],
    );
    expect(await webhookDeliveryStore.pruneEnded(borg().db, KEEP_ENDED_DELIVERIES_DAYS, 1000)).toBe(1);
    const left = (await admin().listWebhookDeliveries(hook.id)).items.map((d) => d.status).sort();
    expect(left).toEqual(['failed', 'pending']);
    expect(rows).toHaveLength(3);
    await admin().deleteWebhook(hook.id);
  });

  it('answers 404 for an unknown webhook or delivery, and 400 for ids that are not ids', async () => {
    const hook = await admin().createWebhook({ url: 'https://hooks.example.invalid/404', events: ['job.skipped'] });
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await refusal(admin().pingWebhook(unknown))).status).toBe(404);
    expect((await refusal(admin().listWebhookDeliveries(unknown))).status).toBe(404);
    expect((await refusal(admin().redeliverWebhookDelivery(hook.id, unknown))).status).toBe(404);
    expect((await refusal(admin().getWebhookDelivery(hook.id, unknown))).status).toBe(404);
    expect((await refusal(admin().getWebhook('nope'))).status).toBe(400);
    expect((await refusal(admin().listWebhookDeliveries(hook.id, { cursor: 'garbage' }))).status).toBe(400);
    // Well-formed, but not a cursor this server made: still a 400, never a 500 from the SQL.
    const forged = Buffer.from(JSON.stringify(["x' OR 1=1"])).toString('base64url');
    expect((await refusal(admin().listWebhookDeliveries(hook.id, { cursor: forged }))).status).toBe(400);
    await admin().deleteWebhook(hook.id);
  });
});

describe('webhooks: what the mothership logs', () => {
  let db: TestDatabase;
  let mothership: Mothership;
  let receiver: WebhookReceiver;
  let logged = '';
  let admin: BorgClient;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await WebhookReceiver.start();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    const adminToken = `test-admin-${'x'.repeat(32)}`;
    mothership = await startMothership(
      loadConfig(
        {
          host: '127.0.0.1',
          port: 0,
          databaseUrl: db.databaseUrl,
          dataDir: db.dataDir,
          adminToken,
          logLevel: 'silent',
          webhookAllowPrivate: true,
          webhookRetryBaseMs: 20,
          webhookRetryForSeconds: 1,
          maintenanceTickMs: 50,
        },
        {},
      ),
      { maintenance: false, logger: pino({ level: 'trace' }, sink) },
    );
    admin = new BorgClient({ baseUrl: await mothership.listen(), token: adminToken });
  });
  afterAll(async () => {
    await mothership?.close();
    await receiver?.close();
    await db?.drop();
  });

  it('never writes a secret to its log, through success, failure and giving up', async () => {
    const created = await admin.createWebhook({ url: receiver.url, events: ['*'] });
    const chosen = await admin.createWebhook({
      url: receiver.url,
      events: ['*'],
      secret: 'the chosen secret value',
    });
    // A ping is sent once: the first fails (500), the second is delivered.
    receiver.answers.push(500);
    await admin.pingWebhook(created.id);
    await admin.pingWebhook(chosen.id);
    const statusOf = async (webhookId: string) => (await admin.listWebhookDeliveries(webhookId)).items[0]?.status;
    await expect
      .poll(async () => [await statusOf(created.id), await statusOf(chosen.id)])
      .toEqual(['failed', 'delivered']);
    // Giving up: from now on every answer is a failure, more than a second of retries can use
    // (with a fixed few, a fast run's retries outlasted them and ended delivered).
    receiver.answers.push(...Array.from({ length: 100 }, () => 500));
    const first = (await admin.listWebhookDeliveries(chosen.id)).items[0]!;
    const again = await admin.redeliverWebhookDelivery(chosen.id, first.id);
    // Retried for a second at most, then given up.
    await expect
      .poll(async () => (await admin.listWebhookDeliveries(chosen.id)).items.find((d) => d.id === again.id)?.status, {
        timeout: 15_000,
      })
      .toBe('failed');
    expect(logged).toContain('webhook delivery failed for good');
    expect(receiver.received.length).toBeGreaterThan(2);
    expect(logged).not.toContain(created.secret!);
    expect(logged).not.toContain('the chosen secret value');
  });
});
