/**
 * The dashboard end to end: Debian's Chromium (driven by playwright-core) against a real
 * mothership serving the freshly built app, and a real solder running the jobs. Screenshots of
 * every page, desktop and phone size, go to packages/web/test-output/ (gitignored); with
 * BORG_UPDATE_SCREENSHOTS=1 the job detail page is also saved as the README's
 * docs/images/job-detail-live-log.png.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BorgClient } from '@borg/protocol';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { writeFakeNvidiaSmi } from '../../solder/test/fake-nvidia-smi.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const WEB_ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const README_IMAGE = fileURLToPath(new URL('../../../docs/images/job-detail-live-log.png', import.meta.url));
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

if (!hasChromium) {
  console.warn(
    `dashboard e2e skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it when it can)`,
  );
}

describe.skipIf(!hasChromium)(
  'the dashboard in Chromium, against a real mothership and solder',
  { timeout: 60_000 },
  () => {
    // Heartbeats every 2 s, so the GPU samples they carry reach the task's charts within the test.
    const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 2 } });
    let solder: InProcessSolder;
    let browser: Browser;
    let page: Page;
    let helloJobUrl = '';
    const consoleErrors: string[] = [];
    /** Each WebSocket the page opened: its URL and the type of the first frame it sent. */
    const sockets: Array<{ url: string; first?: string }> = [];

    const shot = (name: string, on: Page = page) => on.screenshot({ path: `${OUTPUT}${name}.png`, fullPage: true });
    const jobStatus = () => page.locator('h1 + [data-testid=status]');
    const rowStatuses = () =>
      page
        .getByTestId('job-row')
        .locator('[data-testid=status]')
        .evaluateAll((els) => els.map((e) => e.dataset.status));

    beforeAll(async () => {
      // The mothership serves packages/web/dist: build it from the current source first.
      await build({ root: WEB_ROOT, configFile: `${WEB_ROOT}vite.config.ts`, logLevel: 'warn' });
      await mkdir(OUTPUT, { recursive: true });
      solder = await startSolder(borg(), { name: 'e2e-solder', maxConcurrentTasks: 2 });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      // Below the test's own time limit, so a wait that never ends says which one it was.
      page.setDefaultTimeout(15_000);
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => consoleErrors.push(error.message));
      page.on('websocket', (ws) => {
        const socket: { url: string; first?: string } = { url: ws.url() };
        sockets.push(socket);
        ws.on('framesent', ({ payload }) => {
          socket.first ??= (JSON.parse(String(payload)) as { type: string }).type;
        });
      });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await solder?.stop({ cancelRunning: true });
    });

    it('refuses a wrong token with a clear message', async () => {
      await page.goto(`${borg().url}/?token=not-a-real-token`);
      await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 10_000 }).toContain('not valid');
      expect(page.url()).not.toContain('token=');
      await shot('01-sign-in-wrong-token');
    });

    it('signs in from /?token=… and takes the token out of the address bar', async () => {
      const response = await page.goto(`${borg().url}/?token=${encodeURIComponent(borg().adminToken)}`);
      const headers = response!.headers();
      expect(headers['content-security-policy']).toContain("default-src 'self'");
      expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(headers['x-content-type-options']).toBe('nosniff');
      await page.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
      expect(page.url()).toBe(`${borg().url}/`);
      // Who is signed in, from whoami: the admin's name and role, and the audit log in the nav.
      const admin = await borg().admin.whoami();
      expect(await page.getByTestId('identity').textContent()).toContain(admin.name);
      expect(await page.getByTestId('role').textContent()).toBe('admin');
      await page.getByRole('link', { name: 'Audit', exact: true }).waitFor();
      await page.getByText('Runners online / busy / offline').waitFor();
      await page.getByText('Tasks finished per minute').waitFor();
      expect(await page.getByTestId('chart').count()).toBe(4);
      // The live channel signs in with its first message: no token in the socket's URL.
      await expect.poll(() => sockets.at(-1)?.first).toBe('auth');
      expect(sockets.at(-1)!.url).toBe(`${borg().url.replace(/^http/, 'ws')}/ws`);
      await shot('02-overview');
    });

    it('drains the solder from its page, so the next job waits in the queue', async () => {
      await page.getByRole('link', { name: 'Runners', exact: true }).click();
      await page.getByRole('link', { name: 'e2e-solder' }).click();
      await page.waitForURL(`${borg().url}/runners/${solder.agent.id}`);
      await expect
        .poll(() => page.getByTestId('heartbeat').textContent(), { timeout: 10_000 })
        .toMatch(/ago, offline in \d/);
      await page.getByRole('button', { name: 'Drain' }).click();
      await expect
        .poll(() => page.locator('h1 + [data-testid=status]').getAttribute('data-status'), { timeout: 10_000 })
        .toBe('draining');
      expect((await borg().admin.getRunner(solder.agent.id)).draining).toBe(true);
    });

    it('submits a job with an input file in the form, and watches it go queued → running → succeeded live', async () => {
      await page.getByRole('link', { name: 'Jobs', exact: true }).click();
      await page.getByRole('link', { name: 'New job' }).click();
      await page.getByLabel('Name').fill('e2e hello');
      await page
        .getByLabel('Shell command')
        .fill(
          [
            'head -n 1 data/input.txt; wc -l < data/input.txt',
            'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.5; done',
            `printf '\\033[1;32mgreen\\033[0m <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>\\n'`,
            `printf '\\033]8;;https://example.com/\\033\\\\osc-link\\033]8;;\\033\\\\\\n'`,
            'echo "to stderr" >&2',
            'echo "made by e2e" > out.txt',
          ].join('\n'),
        );
      await page.getByLabel(/Environment/).fill('API_TOKEN=hunter2\nMODE=e2e');
      await page.getByLabel(/Artifacts/).fill('out.txt');
      await page.getByLabel('Input files').setInputFiles({
        name: 'input.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('hello from the input file\n'.repeat(20_000)),
      });
      await page.getByLabel('Path of input.txt').fill('data/input.txt');
      // The progress bar fills and the button comes back when the upload is stored.
      await page.getByRole('button', { name: 'Submit job' }).waitFor();
      const bar = page.getByRole('progressbar', { name: 'Upload of input.txt' });
      expect(await bar.getAttribute('value')).toBe(await bar.getAttribute('max'));
      await shot('03-new-job-form');
      // A refusal by the protocol's schema lands under the field it is about (30 days is the
      // longest timeout); the form checks the same schema as the server before it sends.
      const timeout = page.getByLabel('Timeout', { exact: true });
      await timeout.fill('99999999');
      await page.getByRole('button', { name: 'Submit job' }).click();
      await expect
        .poll(() => timeout.evaluate((el) => el.getAttribute('aria-invalid')), { timeout: 10_000 })
        .toBe('true');
      expect(await page.getByTestId('field-error').textContent()).toMatch(/2592000/);
      expect(page.url()).toBe(`${borg().url}/jobs/new`);
      await shot('03b-new-job-server-refusal');
      await timeout.fill('');
      await page.getByRole('button', { name: 'Submit job' }).click();
      await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
      helloJobUrl = page.url();
      await page.getByRole('heading', { name: 'e2e hello' }).waitFor();

      // Queued while the only runner drains.
      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 10_000 }).toBe('queued');
      expect(await page.getByTestId('job-input-file').textContent()).toContain('data/input.txt');
      await shot('04-job-queued');

      // Resume the runner from its page; back on the job, the lines arrive while it runs.
      await page.getByRole('link', { name: 'Runners', exact: true }).click();
      await page.getByRole('link', { name: 'e2e-solder' }).click();
      await page.getByRole('button', { name: 'Resume' }).click();
      await expect
        .poll(() => page.locator('h1 + [data-testid=status]').getAttribute('data-status'), { timeout: 10_000 })
        .not.toBe('draining');
      await page.getByRole('link', { name: 'Jobs', exact: true }).click();
      await page.getByRole('link', { name: 'e2e hello' }).click();
      await page.waitForURL(helloJobUrl);
      await page.getByTestId('log-line').filter({ hasText: 'line 2' }).waitFor({ timeout: 15_000 });
      expect(await jobStatus().getAttribute('data-status')).toBe('running');
      await shot('05-job-running');
      if (process.env.BORG_UPDATE_SCREENSHOTS === '1') {
        // The README's picture: the job page as it runs, its log arriving (the first screenful).
        await page.getByTestId('log-line').filter({ hasText: 'line 4' }).waitFor();
        await page.screenshot({ path: `${OUTPUT}readme-job-detail.png` });
        await mkdir(fileURLToPath(new URL('.', `file://${README_IMAGE}`)), { recursive: true });
        await copyFile(`${OUTPUT}readme-job-detail.png`, README_IMAGE);
      }

      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 20_000 }).toBe('succeeded');
      await page.getByTestId('log-line').filter({ hasText: 'to stderr' }).waitFor();
      const log = page.getByTestId('log-box');
      expect(await log.textContent()).toContain('hello from the input file');
      expect(await log.textContent()).toContain('20000');
      expect(await log.textContent()).toContain('<img src=x onerror="window.pwned=1">');
      expect(await log.locator('img, script, a').count()).toBe(0);
      expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
      expect(await log.getByText('green', { exact: true }).getAttribute('class')).toContain('text-green-500');
      expect(await log.textContent()).toContain('osc-link');
      expect(await page.locator('[data-stream=stderr]').count()).toBe(1);
      // Secret-looking environment values are hidden until asked for.
      const spec = page.getByTestId('job-spec');
      expect(await spec.textContent()).not.toContain('hunter2');
      expect(await spec.textContent()).toContain('MODE=e2e');
      // The attempt: runner, exit code; the artifact downloads as a file.
      const attempt = page.getByTestId('task-row');
      expect(await attempt.textContent()).toContain('e2e-solder');
      await page.getByTestId('artifact').waitFor();
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'out.txt' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe('out.txt');
      expect(await readFile(await download.path(), 'utf8')).toBe('made by e2e\n');
      await page.getByRole('checkbox', { name: 'Timestamps' }).check();
      expect(await log.locator('time').count()).toBeGreaterThan(0);
      await page.getByLabel('Search the log').fill('line 1');
      expect(await page.getByTestId('log-line').count()).toBe(1);
      await page.getByLabel('Search the log').fill('');
      await shot('06-job-succeeded');
    });

    it('filters the list by name and time, and pauses, resumes and cancels a selection at once', async () => {
      const nowhere = { pool: 'nowhere' }; // no runner has it: these stay queued
      await borg().admin.createJob({ name: 'e2e bulk one', command: 'true', labels: nowhere });
      await borg().admin.createJob({ name: 'e2e bulk two', command: 'true', labels: nowhere });
      await page.getByRole('link', { name: 'Jobs', exact: true }).click();
      await page.getByTestId('job-row').filter({ hasText: 'e2e hello' }).waitFor();
      await page.getByLabel('Search names').fill('BULK');
      await expect.poll(() => page.getByTestId('job-row').count(), { timeout: 10_000 }).toBe(2);
      expect(page.url()).toContain('q=BULK');
      await page.getByLabel('Created', { exact: true }).selectOption('custom');
      await page.getByLabel('Created before').fill('2020-01-01T00:00');
      await page.getByText('No job matches these filters.').waitFor();
      await page.getByLabel('Created', { exact: true }).selectOption('1h');
      await expect.poll(() => page.getByTestId('job-row').count(), { timeout: 10_000 }).toBe(2);

      for (const [action, status] of [
        ['Pause', 'paused'],
        ['Resume', 'queued'],
        ['Cancel', 'cancelled'],
      ] as const) {
        await page.getByLabel('Select all shown jobs').check();
        await page
          .getByRole('toolbar', { name: 'Selected jobs' })
          .getByRole('button', { name: new RegExp(`^${action}$`, 'i') })
          .click();
        await expect.poll(rowStatuses, { timeout: 10_000 }).toEqual([status, status]);
        if (status === 'paused') await shot('07-jobs-bulk-paused');
      }
      // The rows can turn cancelled over the WebSocket before the last cancel call has answered;
      // the summary appears once every call has.
      await page.getByRole('status').filter({ hasText: '2 cancelled' }).waitFor({ timeout: 10_000 });
    });

    it('retries, pauses and cancels one job from its page', async () => {
      await page.getByRole('link', { name: 'e2e bulk one' }).click();
      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 10_000 }).toBe('cancelled');
      await page.getByRole('button', { name: 'Retry' }).click();
      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 10_000 }).toBe('queued');
      await expect.poll(() => page.getByTestId('task-row').count(), { timeout: 10_000 }).toBe(2);
      await page.getByRole('button', { name: 'Pause' }).click();
      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 10_000 }).toBe('paused');
      await page.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 10_000 }).toBe('cancelled');
      expect(await page.getByTestId('end-reason').first().textContent()).toBe('cancelled by a user');
    });

    it('goes back to the list with the back button', async () => {
      await page.goBack();
      await page.waitForURL(/\/jobs\?/);
      await page.getByTestId('job-row').first().waitFor();
      await page.getByLabel('Search names').fill('');
      await page.getByLabel('Created', { exact: true }).selectOption('');
      await page.getByTestId('job-row').filter({ hasText: 'e2e hello' }).waitFor();
    });

    it('shows new jobs and their state changes in the list as they happen, and array progress', async () => {
      const row = (name: string) => page.getByTestId('job-row').filter({ hasText: name });
      const array = await borg().admin.createJob({
        name: 'e2e array',
        command: 'echo "element $BORG_TASK_INDEX"',
        array_size: 3,
      });
      await row('e2e array').waitFor();
      await expect
        .poll(() => row('e2e array').locator('[data-testid=status]').getAttribute('data-status'), { timeout: 20_000 })
        .toBe('succeeded');
      await shot('08-jobs');
      await row('e2e array').getByRole('link', { name: 'e2e array' }).click();
      await page.getByText('3 of 3 elements succeeded').waitFor();
      expect(await page.getByTestId('task-row').count()).toBe(3);
      await page.getByRole('button', { name: 'Show the log of element 2, attempt 1' }).click();
      await page.getByTestId('log-line').filter({ hasText: 'element 2' }).waitFor();
      expect(page.url()).toContain(`/jobs/${array.id}?task=`);
      await shot('08b-job-array');
      await page.goBack();
      await row('e2e array').waitFor();
    });

    it('draws a 100,000-line log as a small window of rows that follows the scroll', async () => {
      const job = await borg().admin.createJob({ name: 'e2e big log', command: 'seq 1 100000' });
      await expect
        .poll(async () => (await borg().admin.getJob(job.id)).status, { timeout: 45_000, interval: 500 })
        .toBe('succeeded');
      await page.goto(`${borg().url}/jobs/${job.id}`);
      await page.getByText('100000 lines').waitFor({ timeout: 30_000 });
      const box = page.getByTestId('log-box');
      // Follow mode opened it at the end.
      await box.getByText('100000', { exact: true }).first().waitFor();
      expect(await page.getByTestId('log-line').count()).toBeLessThan(100);
      await box.focus();
      await page.keyboard.press('Home');
      await box.getByText('1', { exact: true }).first().waitFor();
      expect(await page.getByRole('checkbox', { name: 'Follow' }).isChecked()).toBe(false);
      await box.evaluate((el) => {
        el.scrollTop = el.scrollHeight / 2;
      });
      await box.getByText('50000', { exact: true }).first().waitFor();
      expect(await page.getByTestId('log-line').count()).toBeLessThan(100);
      await page.keyboard.press('End');
      await box.getByText('100000', { exact: true }).first().waitFor();
      // Six-digit line numbers fit their gutter, which is sized by the number of digits.
      const numbers = box.getByTestId('line-number');
      expect(await numbers.last().textContent()).toBe('100000');
      const overflowing = await numbers.evaluateAll(
        (els) => els.filter((el) => el.scrollWidth > el.clientWidth || el.getBoundingClientRect().width < 40).length,
      );
      expect(overflowing).toBe(0);
      // The box takes most of the window's height (70% of 900 px), not a fixed 480 px.
      expect(await box.evaluate((el) => el.getBoundingClientRect().height)).toBe(630);
      await shot('07b-big-log');
    }, 120_000);

    it('opens a failed job on a banner, jumps to its first error, and runs it again from the form', async () => {
      const failed = await borg().admin.createJob({
        name: 'e2e fails',
        command: 'echo preparing; echo "boom: the test broke" >&2; echo cleaning up; exit 3',
        timeout_seconds: 600,
        env: { STAGE: 'e2e' },
      });
      await expect
        .poll(async () => (await borg().admin.getJob(failed.id)).status, { timeout: 30_000, interval: 500 })
        .toBe('failed');
      await page.goto(`${borg().url}/jobs/${failed.id}`);
      const banner = page.getByRole('region', { name: 'The job failed on attempt 1: exited with 3' });
      await banner.waitFor();
      await banner.getByTestId('log-line').filter({ hasText: 'boom: the test broke' }).waitFor();
      // stdout and stderr are read from two pipes, so their lines may come in either order.
      await banner.getByTestId('log-line').filter({ hasText: 'cleaning up' }).waitFor();
      expect(await page.getByTestId('end-reason').textContent()).toBe('exited with 3');
      await page.getByRole('button', { name: 'Jump to first error' }).click();
      expect(await page.getByTestId('log-box').locator('[data-marked]').textContent()).toContain('boom');
      await shot('11b-job-failed-banner');

      // Run again: the form opens filled with the spec; submitting it unchanged makes a new job.
      await page.getByRole('link', { name: 'Run again' }).click();
      await page.waitForURL(`${borg().url}/jobs/new?from=${failed.id}`);
      await page.getByRole('heading', { name: 'Run a job again' }).waitFor();
      expect(await page.getByLabel('Name').inputValue()).toBe('e2e fails');
      expect(await page.getByLabel('Shell command').inputValue()).toContain('exit 3');
      expect(await page.getByLabel('Timeout', { exact: true }).inputValue()).toBe('10m');
      expect(await page.getByLabel(/Environment/).inputValue()).toBe('STAGE=e2e');
      await shot('11c-run-again-form');
      await page.getByRole('button', { name: 'Submit job' }).click();
      await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
      const againId = page.url().split('/').pop()!;
      expect(againId).not.toBe(failed.id);
      const again = await borg().admin.getJob(againId);
      expect(again).toMatchObject({ name: 'e2e fails', command: failed.command, timeout_seconds: 600 });
      expect(again.env).toEqual({ STAGE: 'e2e' });

      // At 1400 px the overview lists the failures of the last hour beside the counts.
      await page.setViewportSize({ width: 1400, height: 900 });
      await page.getByRole('link', { name: 'Overview', exact: true }).click();
      const failures = page.getByRole('region', { name: 'Failed in the last hour' });
      await failures.getByRole('link', { name: 'e2e fails' }).first().waitFor({ timeout: 20_000 });
      // Below the charts, the storage used: the input file the form uploaded earlier is one (the
      // figures may be up to 15 s old, and /stats is fetched again on every job event).
      const files = page.getByRole('region', { name: 'Storage used' }).getByTestId('storage-files');
      await expect
        .poll(() => files.textContent(), { timeout: 20_000 })
        .toMatch(/^Uploaded files[\d.]+ (B|KiB|MiB)[1-9]\d* files? in the file store$/);
      await shot('02b-overview-1400');
      await page.setViewportSize({ width: 1280, height: 900 });
    }, 90_000);

    it('cancels a long job it finds on the runner page', async () => {
      await borg().admin.createJob({ name: 'e2e long', command: 'echo started; sleep 120' });
      await page.getByRole('link', { name: 'Runners', exact: true }).click();
      await page.getByTestId('runner-row').filter({ hasText: 'e2e-solder' }).waitFor();
      expect(
        await page.getByTestId('runner-row').first().locator('[data-testid=status]').getAttribute('data-status'),
      ).toMatch(/online|busy/);
      await shot('09-runners');
      await page.getByRole('link', { name: 'e2e-solder' }).click();
      const held = page.getByTestId('runner-task').filter({ hasText: 'e2e long' });
      await held.waitFor({ timeout: 15_000 });
      await shot('10-runner-detail');
      await held.getByRole('link').click();
      await page.getByTestId('log-line').filter({ hasText: 'started' }).waitFor({ timeout: 15_000 });
      await page.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => jobStatus().getAttribute('data-status'), { timeout: 20_000 }).toBe('cancelled');
      await expect
        .poll(() => page.getByTestId('end-reason').textContent(), { timeout: 10_000 })
        .toBe('cancelled by a user');
      await shot('11-job-cancelled');
    });

    it('says why a GPU task waits, and charts the GPUs of the task that holds them', async () => {
      const machine = await mkdtemp(join(tmpdir(), 'borg-e2e-gpus-'));
      await chmod(machine, 0o755);
      const nvidiaSmi = await writeFakeNvidiaSmi(machine);
      const gpuBox = await startSolder(
        borg(),
        { name: 'e2e-gpu-box', maxConcurrentTasks: 2 },
        { nvidiaSmi: nvidiaSmi.path, gpuSampleIntervalMs: 200 },
      );
      const release = join(machine, 'go');
      try {
        const holder = await borg().admin.createJob({
          name: 'e2e all four gpus',
          command: `while [ ! -e ${release} ]; do sleep 0.1; done`,
          resources: { gpus: 4 },
        });
        await expect
          .poll(async () => (await borg().admin.getJob(holder.id)).status, { timeout: 15_000 })
          .toBe('running');
        const waiting = await borg().admin.createJob({
          name: 'e2e one more gpu',
          command: 'true',
          resources: { gpus: 1 },
        });

        await page.goto(`${borg().url}/jobs/${waiting.id}`);
        await page.getByRole('button', { name: /Why pending/ }).click();
        const placement = page.getByTestId('placement');
        await placement
          .getByTestId('placement-runner')
          .filter({ hasText: 'e2e-gpu-box' })
          .getByText(/gpus: needs 1, 0 free/)
          .waitFor();
        await shot('11b-why-pending');

        await page.goto(`${borg().url}/jobs/${holder.id}`);
        await expect.poll(() => page.getByTestId('gpu-charts').count(), { timeout: 15_000 }).toBe(4);
        await page.getByTestId('gpu-charts').first().getByTestId('chart').first().waitFor();
        await shot('11c-gpu-charts');
      } finally {
        await writeFile(release, '');
        await gpuBox.stop({ cancelRunning: true });
        await rm(machine, { recursive: true, force: true });
      }
    });

    it('signs a viewer in with no "New job", no selection and no job actions, and no audit log', async () => {
      const viewer = await borg().admin.createToken({ name: 'e2e viewer', role: 'viewer' });
      const queued = await borg().admin.createJob({
        name: 'e2e for viewing',
        command: 'true',
        labels: { pool: 'nowhere' },
      });
      const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      tab.setDefaultTimeout(15_000);
      try {
        await tab.goto(`${borg().url}/?token=${encodeURIComponent(viewer.token)}`);
        await tab.getByTestId('role').filter({ hasText: 'viewer' }).waitFor();
        expect(await tab.getByTestId('identity').textContent()).toContain('e2e viewer');
        expect(await tab.getByRole('link', { name: 'Audit', exact: true }).count()).toBe(0);

        await tab.getByRole('link', { name: 'Jobs', exact: true }).click();
        await tab.getByTestId('job-row').filter({ hasText: 'e2e for viewing' }).waitFor();
        expect(await tab.getByText('New job', { exact: true }).count()).toBe(0);
        expect(await tab.getByRole('checkbox').count()).toBe(0);
        const submittedBy = tab
          .getByTestId('job-row')
          .filter({ hasText: 'e2e for viewing' })
          .getByTestId('submitted-by');
        expect(await submittedBy.textContent()).toBe((await borg().admin.whoami()).name);

        await tab.getByRole('link', { name: 'e2e for viewing' }).click();
        await expect
          .poll(() => tab.locator('h1 + [data-testid=status]').getAttribute('data-status'), { timeout: 10_000 })
          .toBe('queued');
        await tab.getByTestId('submitted-by').waitFor();
        for (const action of ['Cancel', 'Pause', 'Resume', 'Retry']) {
          expect(await tab.getByRole('button', { name: action, exact: true }).count(), action).toBe(0);
        }
        await shot('12-viewer-job', tab);

        // A bookmark to a page the role cannot use says so instead of failing.
        await tab.evaluate(() => {
          history.pushState(null, '', '/audit');
          dispatchEvent(new PopStateEvent('popstate'));
        });
        await tab.getByText('This token cannot read the audit log.').waitFor();
        await tab.evaluate(() => {
          history.pushState(null, '', '/runners/new');
          dispatchEvent(new PopStateEvent('popstate'));
        });
        await tab.getByText('This token cannot add runners').waitFor();
        expect(await tab.getByRole('button', { name: 'Create registration token' }).count()).toBe(0);
      } finally {
        await tab.close();
        await borg().admin.cancelJob(queued.id);
      }
    });

    it('lists the job the admin submitted in the audit log, filtered in the URL', async () => {
      const helloId = new URL(helloJobUrl).pathname.split('/').pop()!;
      const admin = await borg().admin.whoami();
      await page.getByRole('link', { name: 'Audit', exact: true }).click();
      await page.waitForURL(`${borg().url}/audit`);
      await page.getByTestId('audit-row').first().waitFor();
      await page.getByLabel('Action').selectOption('job.submit');
      await page.getByLabel('Object id').fill(helloId);
      await expect.poll(() => page.getByTestId('audit-row').count(), { timeout: 10_000 }).toBe(1);
      expect(new URL(page.url()).searchParams.get('action')).toBe('job.submit');
      expect(new URL(page.url()).searchParams.get('object')).toBe(helloId);
      const row = page.getByTestId('audit-row');
      expect(await row.textContent()).toContain(`${admin.name} (admin)`);
      expect(await row.getByTestId('audit-outcome').textContent()).toBe('ok 201');
      await shot('13-audit');
      await row.getByRole('link', { name: `job ${helloId}` }).click();
      await page.waitForURL(helloJobUrl);
      await page.getByRole('heading', { name: 'e2e hello' }).waitFor();
    });

    it('adds a runner: a registration token, the install line to copy, and the registration seen', async () => {
      await page.getByRole('link', { name: 'Runners', exact: true }).click();
      await page.getByRole('link', { name: 'Add a runner' }).click();
      await page.waitForURL(`${borg().url}/runners/new`);
      await page.getByLabel('Allowed labels').fill('pool=e2e-added, zone=a, zone=b');
      expect(await page.getByLabel('Labels for this runner').inputValue()).toBe('pool=e2e-added');
      await page.getByRole('button', { name: 'Create registration token' }).click();
      const line = page.getByTestId('install-line');
      await line.waitFor();
      const text = (await line.textContent())!;
      expect(text).toContain(`${borg().url}/install.sh | sh -s -- --registration-token borg_reg_`);
      expect(text).toContain('--labels pool=e2e-added');
      const token = /--registration-token (borg_reg_\S+)/.exec(text)![1]!;
      expect(page.url()).toBe(`${borg().url}/runners/new`);
      await page.getByText('Waiting for the runner to register…').waitFor();
      await shot('14-add-runner');

      // The token works: a machine registering with it is announced on the page, live.
      const tokens = await borg().admin.listTokens();
      const made = tokens.items.find((t) => t.kind === 'registration' && t.name.startsWith('runners added '))!;
      expect(made.allowed_labels).toEqual({ pool: 'e2e-added', zone: ['a', 'b'] });
      const registration = new BorgClient({ baseUrl: borg().url, token });
      const { runner } = await registration.register({
        device_id: 'e2e-added-device',
        name: 'e2e-added',
        labels: { pool: 'e2e-added' },
      });
      const status = page.getByTestId('registration-status');
      await status.getByRole('link', { name: 'e2e-added' }).waitFor();
      expect(await status.textContent()).toContain('Runner e2e-added registered');
      await shot('14b-add-runner-registered');
      await borg().admin.deleteRunner(runner.id);
    });

    it('fits a phone screen without sideways scrolling', async () => {
      const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      phone.setDefaultTimeout(10_000);
      try {
        await phone.goto(`${borg().url}/?token=${encodeURIComponent(borg().adminToken)}`);
        const pages: Array<[string, string, string]> = [
          ['/', 'Tasks finished per minute', 'phone-overview'],
          ['/jobs', 'e2e hello', 'phone-jobs'],
          [new URL(helloJobUrl).pathname, 'Log of element', 'phone-job-detail'],
          ['/jobs/new', 'Input files', 'phone-new-job'],
          ['/runners', 'e2e-solder', 'phone-runners'],
          ['/runners/new', 'Create registration token', 'phone-add-runner'],
          [`/runners/${solder.agent.id}`, 'Tasks on this runner', 'phone-runner-detail'],
          ['/audit', 'Audit log', 'phone-audit'],
        ];
        for (const [path, text, name] of pages) {
          await phone.evaluate((to) => {
            history.pushState(null, '', to);
            dispatchEvent(new PopStateEvent('popstate'));
          }, path);
          await phone.getByText(text).first().waitFor();
          const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          expect(overflow, `${path} is wider than the screen`).toBeLessThanOrEqual(0);
          await shot(name, phone);
        }
      } finally {
        await phone.close();
      }
    });

    it('signs out, and broke no content security policy on the way', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      expect(consoleErrors.filter((e) => /Content Security Policy|Refused/i.test(e))).toEqual([]);
    });
  },
);
