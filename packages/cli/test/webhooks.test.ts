import type { CreatedWebhook, Webhook } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually } from '../../../test/test-solder.ts';
import { signatureMatches, WebhookReceiver } from '../../../test/webhook-receiver.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir, UUID } from './borg-cli.ts';

describe('borg webhooks', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership({ config: { webhookAllowPrivate: true } });
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('creates webhooks (a generated secret shown once, or one read from stdin), lists them, pings, redelivers and deletes', async () => {
    const generated = await borg(['webhooks', 'create', '--url', receiver.url, '--events', 'job.failed,task.lost'], {
      env: env(),
    });
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout).toMatch(/^id:\s+[0-9a-f-]{36}$/m);
    expect(generated.stdout).toMatch(/^events:\s+job\.failed, task\.lost$/m);
    expect(generated.stdout).toMatch(/^secret:\s+whsec_[0-9a-f]{64}$/m);
    expect(generated.stderr).toContain('not shown again');

    const fromStdin = await borg(
      ['webhooks', 'create', '--url', receiver.url, '--events', '*', '--secret-stdin', '-o', 'json'],
      { env: env(), input: 'a secret typed into stdin\n' },
    );
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    const created = JSON.parse(fromStdin.stdout) as CreatedWebhook;
    expect(created).toMatchObject({ events: ['*'], secret: null, secret_set: true });

    // `borg webhooks` alone lists them; the secrets are never shown again.
    const listed = await borg(['webhooks'], { env: env() });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+URL\s+EVENTS\s+ACTIVE\s+LAST DELIVERY$/);
    expect(listed.stdout).toContain(created.id);
    expect(listed.stdout).not.toMatch(/whsec_/);
    const json = JSON.parse((await borg(['webhooks', 'list', '-o', 'json'], { env: env() })).stdout) as Webhook[];
    expect(json).toHaveLength(2);
    expect(JSON.stringify(json)).not.toContain('secret typed');

    const ping = await borg(['webhooks', 'ping', created.id.slice(0, 8)], { env: env() });
    expect(ping.code, ping.stderr).toBe(0);
    // A duration as borg prints one: 41ms, 1.2s.
    expect(ping.stdout).toMatch(/^ping delivered: 200 in (\d+ms|\d+\.\ds)\n$/);
    const pinged = receiver.received.at(-1)!;
    expect(pinged.payload.event).toBe('ping');
    expect(signatureMatches(pinged.body, 'a secret typed into stdin', pinged.headers['x-borg-signature'])).toBe(true);

    const deliveries = await borg(['webhooks', 'deliveries', created.id], { env: env() });
    expect(deliveries.stdout.split('\n')[0]).toMatch(
      /^ID\s+EVENT\s+STATUS\s+CODE\s+TIME\s+ATTEMPTS\s+NEXT\s+CREATED\s+ERROR$/,
    );
    expect(deliveries.stdout).toMatch(/ping\s+delivered\s+200\s+(\d+ms|\d+\.\ds)\s+1\s+-/);

    const attempts = await borg(['webhooks', 'deliveries', created.id, pinged.payload.id], { env: env() });
    expect(attempts.code, attempts.stderr).toBe(0);
    expect(attempts.stdout).toMatch(/^ATTEMPT\s+STARTED\s+CODE\s+TIME\s+ERROR\s+ANSWER$/m);
    expect(attempts.stdout).toMatch(/^1\s+\S+ ago\s+200\s+(\d+ms|\d+\.\ds)\s+ok$/m);

    const redelivered = await borg(['webhooks', 'redeliver', created.id, pinged.payload.id], { env: env() });
    expect(redelivered.code, redelivered.stderr).toBe(0);
    const newId = /^delivery (\S+) queued \(ping, again from /.exec(redelivered.stdout)?.[1];
    expect(newId).toMatch(UUID);
    const again = await eventually(() => receiver.received.find((d) => d.payload.id === newId));
    expect(again.payload.created_at).toBe(pinged.payload.created_at);

    const shown = await borg(['webhooks', 'show', created.id], { env: env() });
    expect(shown.stdout).toMatch(/^signed:\s+yes/m);
    expect(shown.stdout).toContain(newId);

    const deleted = await borg(['webhooks', 'delete', created.id], { env: env() });
    expect(deleted.stdout).toBe(`webhook ${created.id} (${receiver.url}) deleted\n`);
    const gone = await borg(['webhooks', 'show', created.id], { env: env() });
    expect(gone.code).toBe(3);
    expect(expectOneLineError(gone.stderr)).toContain(`webhook ${created.id} does not exist`);
  });

  it('refuses unknown events, naming the known ones, and says when a ping was not delivered', async () => {
    const unknown = await borg(['webhooks', 'create', '--url', receiver.url, '--events', 'job.done'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(expectOneLineError(unknown.stderr)).toMatch(/unknown event "job.done".*job\.succeeded, job\.failed/);

    receiver.answers.push(503);
    const made = JSON.parse(
      (
        await borg(['webhooks', 'create', '--url', receiver.url, '--events', 'job.failed', '-o', 'json'], {
          env: env(),
        })
      ).stdout,
    ) as CreatedWebhook;
    const failed = await borg(['webhooks', 'ping', made.id], { env: env() });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('ping failed: the receiver answered 503\n');
  });
});
