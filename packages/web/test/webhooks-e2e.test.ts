/**
 * The Webhooks page end to end: Debian's Chromium (driven by playwright-core) against a real
 * mothership and a real HTTP receiver on 127.0.0.1 (BORG_WEBHOOK_ALLOW_PRIVATE). An admin creates
 * a webhook with the form, sees its generated secret once, pings it and redelivers the ping; the
 * receiver checks every signature with that secret. A viewer is offered no Webhooks page. The
 * app is built into a folder of this file's own (BORG_WEB_DIR), so it never races another
 * browser test's build (browser-session.ts). Screenshots go to packages/web/test-output/ (gitignored).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestMothership } from '../../../test/test-mothership.ts';
import { signatureMatches, WebhookReceiver } from '../../../test/webhook-receiver.ts';
import { buildDashboard, hasChromium, openBrowser, SCREENSHOTS } from './browser-session.ts';

describe.skipIf(!hasChromium)('the Webhooks page in Chromium', { timeout: 60_000 }, () => {
  let borg: TestMothership;
  let receiver: WebhookReceiver;
  let browser: Browser;
  let page: Page;
  let app: Awaited<ReturnType<typeof buildDashboard>> | undefined;
  let consoleErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

  beforeAll(async () => {
    app = await buildDashboard('hooks');
    borg = await TestMothership.start({ config: { webhookAllowPrivate: true } });
    receiver = await WebhookReceiver.start();
    ({ browser, page, consoleErrors } = await openBrowser());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await borg?.close();
    await app?.remove();
  });

  it('creates a webhook with the form, shows its secret once, pings it and redelivers the ping', async () => {
    await page.goto(`${borg.url}/?token=${encodeURIComponent(borg.adminToken)}`);
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByText('No webhooks yet.').waitFor();

    const form = page.getByRole('form', { name: 'New webhook' });
    await form.getByLabel('URL').fill(receiver.url);
    // job.failed is ticked to start with; add task.lost.
    expect(await form.getByRole('checkbox', { name: /job\.failed/ }).isChecked()).toBe(true);
    await form.getByRole('checkbox', { name: /task\.lost/ }).check();
    await shot('webhooks-01-form');
    await form.getByRole('button', { name: 'Create webhook' }).click();

    const secret = (await page.getByTestId('webhook-secret').textContent())!;
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const row = page.getByTestId('webhook-row');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain('job.failed, task.lost');
    const [webhook] = (await borg.admin.listWebhooks()).items;
    expect(webhook).toMatchObject({ url: receiver.url, events: ['job.failed', 'task.lost'], secret_set: true });
    await shot('webhooks-02-created');

    // Shown once: after Done, and on the webhook's own page, the secret is gone.
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.getByTestId('webhook-secret').count()).toBe(0);
    await row.getByRole('link', { name: receiver.url }).click();
    await page.waitForURL(`${borg.url}/webhooks/${webhook!.id}`);
    await page.getByText('Nothing sent yet.').waitFor();
    expect(await page.content()).not.toContain(secret);

    await page.getByRole('button', { name: 'Ping' }).click();
    await expect
      .poll(() => page.getByTestId('ping-result').textContent())
      .toMatch(/^Ping delivered: the receiver answered 200 in \d+ ms\.$/);
    const deliveries = page.getByTestId('delivery-row');
    await expect.poll(() => deliveries.count()).toBe(1);
    expect(await deliveries.first().getByTestId('delivery-status').getAttribute('data-status')).toBe('delivered');
    expect(await deliveries.first().textContent()).toMatch(/ping.*delivered.*200.*\d+ ms.*1/);
    const ping = receiver.received.at(-1)!;
    expect(ping.payload.event).toBe('ping');
    expect(signatureMatches(ping.body, secret, ping.headers['x-borg-signature'])).toBe(true);

    await deliveries.first().getByRole('button', { name: 'Redeliver' }).click();
    await expect.poll(() => deliveries.count()).toBe(2);
    await expect
      .poll(() => deliveries.first().getByTestId('delivery-status').getAttribute('data-status'), { timeout: 10_000 })
      .toBe('delivered');
    expect(await deliveries.first().textContent()).toContain('(again)');
    await expect.poll(() => receiver.received.length).toBe(2);
    const again = receiver.received[1]!;
    expect(again.payload).toEqual({ ...ping.payload, id: again.payload.id });
    expect(again.payload.id).not.toBe(ping.payload.id);
    expect(signatureMatches(again.body, secret, again.headers['x-borg-signature'])).toBe(true);
    // Each attempt of a delivery, under its row.
    await deliveries.last().getByRole('button', { name: /^1/ }).click();
    const log = page.getByTestId('attempt-log');
    await expect.poll(() => log.textContent()).toMatch(/1.*200.*\d+ ms.*ok/);
    await shot('webhooks-03-deliveries');
    expect(consoleErrors).toEqual([]);
  });

  it('offers a viewer no Webhooks page', async () => {
    const viewer = await borg.admin.createToken({ name: 'hooks viewer', role: 'viewer' });
    const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await other.goto(`${borg.url}/?token=${encodeURIComponent(viewer.token)}`);
      await other.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
      expect(await other.getByRole('link', { name: 'Webhooks', exact: true }).count()).toBe(0);
      await other.goto(`${borg.url}/webhooks`);
      await other.getByText('This token cannot manage webhooks.').waitFor();
    } finally {
      await other.close();
    }
  });
});
