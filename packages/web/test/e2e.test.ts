/**
 * The dashboard end to end: Debian's Chromium (driven by playwright-core) against a real
 * mothership serving the freshly built app, and a real solder running the jobs. Screenshots go
 * to packages/web/test-output/ (gitignored); with BORG_UPDATE_SCREENSHOTS=1 the job detail
 * page is also saved as the README's docs/images/job-detail-live-log.png.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const WEB_ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const README_IMAGE = fileURLToPath(new URL('../../../docs/images/job-detail-live-log.png', import.meta.url));

if (!hasChromium) {
  console.warn(
    `dashboard e2e skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it when it can)`,
  );
}

describe.skipIf(!hasChromium)('the dashboard in Chromium, against a real mothership and solder', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: `${OUTPUT}${name}.png`, fullPage: true });
  const jobStatus = () => page.locator('h1 + [data-testid=status]');

  beforeAll(async () => {
    // The mothership serves packages/web/dist: build it from the current source first.
    await build({ root: WEB_ROOT, configFile: `${WEB_ROOT}vite.config.ts`, logLevel: 'warn' });
    await mkdir(OUTPUT, { recursive: true });
    solder = await startSolder(borg(), { name: 'e2e-solder', maxConcurrentTasks: 2 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await solder?.stop({ cancelRunning: true });
  });

  it('refuses a wrong token with a clear message', async () => {
    await page.goto(`${borg().url}/?token=not-a-real-token`);
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not valid');
    expect(page.url()).not.toContain('token=');
    await shot('01-sign-in-wrong-token');
  });

  it('signs in from /?token=… and takes the token out of the address bar', async () => {
    await page.goto(`${borg().url}/?token=${encodeURIComponent(borg().adminToken)}`);
    await page.getByRole('link', { name: 'Jobs' }).waitFor();
    expect(page.url()).toBe(`${borg().url}/`);
    await page.getByText('Runners online').waitFor();
    await shot('02-overview');
  });

  it('submits a job in the form and shows it go to succeeded with its log arriving live, as text', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Name').fill('e2e hello');
    await page
      .getByLabel('Shell command')
      .fill(
        [
          'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.5; done',
          `printf '\\033[1;32mgreen\\033[0m <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>\\n'`,
          `printf '\\033]8;;https://example.com/\\033\\\\osc-link\\033]8;;\\033\\\\\\n'`,
          'echo "to stderr" >&2',
        ].join('\n'),
      );
    await page.getByLabel(/Environment/).fill('API_TOKEN=hunter2\nMODE=e2e');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/jobs\/[A-Za-z0-9-]+$/);
    await page.getByText('e2e hello').waitFor();

    // The first lines show while the job is still running: they came over the WebSocket.
    await page.getByTestId('log-line').filter({ hasText: 'line 1' }).waitFor({ timeout: 15_000 });
    expect(await jobStatus().getAttribute('data-status')).toBe('running');
    await shot('03-job-running');

    await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 20_000 }).toBe('succeeded');
    await page.getByTestId('log-line').filter({ hasText: 'to stderr' }).waitFor();
    const log = page.getByTestId('log-box');
    expect(await log.textContent()).toContain('<img src=x onerror="window.pwned=1">');
    expect(await log.locator('img, script, a').count()).toBe(0);
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
    expect(await log.getByText('green', { exact: true }).getAttribute('class')).toContain('text-green-500');
    expect(await log.textContent()).toContain('osc-link');
    expect(await page.locator('[data-stream=stderr]').count()).toBe(1);
    // Secret-looking environment values are hidden until asked for.
    expect(await page.locator('dl').textContent()).not.toContain('hunter2');
    expect(await page.locator('dl').textContent()).toContain('MODE=e2e');
    expect(await page.locator('[data-testid=task-row]').textContent()).toContain('0');
    await shot('04-job-succeeded');
    if (process.env.BORG_UPDATE_SCREENSHOTS === '1') {
      await mkdir(fileURLToPath(new URL('.', `file://${README_IMAGE}`)), { recursive: true });
      await copyFile(`${OUTPUT}04-job-succeeded.png`, README_IMAGE);
    }
  });

  it('goes back to the list with the back button, and the list shows the job', async () => {
    await page.goBack();
    await page.goBack();
    await page.waitForURL(`${borg().url}/jobs`);
    await page.getByTestId('job-row').filter({ hasText: 'e2e hello' }).waitFor();
    expect(await page.getByTestId('job-row').first().locator('[data-testid=status]').getAttribute('data-status')).toBe(
      'succeeded',
    );
    await shot('05-jobs');
  });

  it('cancels a long job from its page', async () => {
    const job = await borg().admin.createJob({ name: 'e2e long', command: 'echo started; sleep 120' });
    await page.goto(`${borg().url}/jobs/${job.id}`);
    await page.getByTestId('log-line').filter({ hasText: 'started' }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 20_000 }).toBe('cancelled');
    await shot('06-job-cancelled');
  });

  it('lists the solder on the runners page', async () => {
    await page.getByRole('link', { name: 'Runners' }).click();
    await page.getByTestId('runner-row').filter({ hasText: 'e2e-solder' }).waitFor();
    expect(
      await page.getByTestId('runner-row').first().locator('[data-testid=status]').getAttribute('data-status'),
    ).toBe('online');
    await shot('07-runners');
  });

  it('signs out, and broke no content security policy on the way', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused/i.test(e))).toEqual([]);
  });
});
