/**
 * The Schedules page end to end: Debian's Chromium (driven by playwright-core) against a real
 * mothership (its scheduler running) and a real solder. An operator creates a schedule with the
 * form, sees it listed with its next fire, triggers it, and follows it to the job, which says
 * which schedule it came from; the schedule's page then shows that fire with the job's status. A
 * viewer is offered no form and no actions. The app is built into a folder of this file's own
 * (BORG_WEB_DIR), so it never races another browser test's build. Screenshots go to
 * packages/web/test-output/ (gitignored).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

const CHROMIUM = '/usr/bin/chromium';
const WEB_ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));

describe.skipIf(!existsSync(CHROMIUM))('the Schedules page in Chromium', { timeout: 60_000 }, () => {
  let webDir = '';
  let borg: TestMothership;
  let solder: InProcessSolder;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const shot = (name: string, on: Page = page) => on.screenshot({ path: `${OUTPUT}${name}.png`, fullPage: true });

  beforeAll(async () => {
    webDir = await mkdtemp(join(tmpdir(), 'borg-web-schedules-'));
    await build({
      root: WEB_ROOT,
      configFile: `${WEB_ROOT}vite.config.ts`,
      logLevel: 'warn',
      build: { outDir: webDir, emptyOutDir: true },
    });
    process.env.BORG_WEB_DIR = webDir;
    await mkdir(OUTPUT, { recursive: true });
    borg = await TestMothership.start();
    solder = await startSolder(borg, { labels: 'pool=schedules-e2e' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(15_000);
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await solder?.stop({ cancelRunning: true });
    await borg?.close();
    delete process.env.BORG_WEB_DIR;
    if (webDir) await rm(webDir, { recursive: true, force: true });
  });

  it('creates a schedule, lists it with its next fire, triggers it and shows its job', async () => {
    const operator = await borg.admin.createToken({ name: 'night shift', role: 'operator' });
    await page.goto(`${borg.url}/?token=${encodeURIComponent(operator.token)}`);
    await page.getByRole('link', { name: 'Schedules', exact: true }).click();
    await page.getByRole('heading', { name: 'Schedules' }).waitFor();
    await page.getByText('No schedules yet.').waitFor();

    await page.getByRole('button', { name: 'New schedule' }).click();
    const form = page.getByRole('form', { name: 'New schedule' });
    await form.getByLabel('Name').fill('nightly report');
    await form.getByLabel('Cron').fill('30 2 * * *');
    await form.getByLabel('Time zone').fill('Europe/Berlin');
    await form.getByLabel('Runner labels (optional)').fill('pool=schedules-e2e');
    await form.getByLabel('Command').fill('echo report for $BORG_TASK_INDEX');
    await shot('schedules-01-form');
    // A cron that cannot be read is refused with the mothership's reason, and nothing is created.
    await form.getByLabel('Cron').fill('61 2 * * *');
    await form.getByRole('button', { name: 'Create schedule' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/cron "61 2 \* \* \*" is not valid/);
    await form.getByLabel('Cron').fill('30 2 * * *');
    await form.getByRole('button', { name: 'Create schedule' }).click();

    const row = page.getByTestId('schedule-row');
    await expect.poll(() => row.count()).toBe(1);
    const [schedule] = (await borg.admin.listSchedules()).items;
    expect(schedule).toMatchObject({
      name: 'nightly report',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      job: { command: 'echo report for $BORG_TASK_INDEX', labels: { pool: 'schedules-e2e' } },
      created_by: { name: 'night shift' },
    });
    expect(await row.textContent()).toMatch(/nightly report.*30 2 \* \* \*.*Europe\/Berlin/);
    const next = row.getByTestId('next-fire');
    expect(await next.textContent()).toMatch(/^in \d/);
    expect(await next.getAttribute('title')).toMatch(/ 02:30:00 Europe\/Berlin$/);
    expect(await next.getAttribute('datetime')).toBe(schedule!.next_fire_at);
    expect(await row.getByTestId('last-fire').textContent()).toBe('—');
    await shot('schedules-02-listed');

    await row.getByRole('button', { name: 'Trigger now' }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const jobId = page.url().split('/').at(-1)!;
    const origin = page.getByTestId('schedule-origin');
    await expect.poll(() => origin.textContent()).toMatch(/^From schedule nightly report for /);
    await expect
      .poll(() => page.locator('h1 + [data-testid=status]').getAttribute('data-status'), { timeout: 20_000 })
      .toBe('succeeded');
    expect(await borg.admin.getJob(jobId)).toMatchObject({ schedule_id: schedule!.id, status: 'succeeded' });
    await shot('schedules-03-job');

    await origin.getByRole('link', { name: 'nightly report' }).click();
    await page.waitForURL(`${borg.url}/schedules/${schedule!.id}`);
    const fire = page.getByTestId('fire-row');
    await expect.poll(() => fire.count()).toBe(1);
    await expect.poll(() => fire.first().locator('[data-testid=status]').getAttribute('data-status')).toBe('succeeded');
    expect(await fire.first().textContent()).toMatch(/manual.*succeeded.*\d+\.\d\d s/);
    await shot('schedules-04-detail');

    // Pause from the list: the next fire says so.
    await page.getByRole('link', { name: '← Schedules' }).click();
    await row.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => row.textContent()).toContain('paused');
    expect((await borg.admin.getSchedule(schedule!.id)).paused).toBe(true);
    // The one error is the browser's note of the refused cron's 400 answer.
    expect(consoleErrors).toEqual([expect.stringContaining('status of 400')]);
  });

  it('offers a viewer the list, but no form and no actions', async () => {
    const viewer = await borg.admin.createToken({ name: 'schedules viewer', role: 'viewer' });
    const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await other.goto(`${borg.url}/?token=${encodeURIComponent(viewer.token)}`);
      await other.getByRole('link', { name: 'Schedules', exact: true }).click();
      await other.getByTestId('schedule-row').first().waitFor();
      expect(await other.getByRole('button', { name: 'New schedule' }).count()).toBe(0);
      expect(await other.getByRole('button', { name: 'Trigger now' }).count()).toBe(0);
      expect(await other.getByRole('button', { name: /^(Pause|Resume|Delete)$/ }).count()).toBe(0);
      await shot('schedules-05-viewer', other);
    } finally {
      await other.close();
    }
  });
});
