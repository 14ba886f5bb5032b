/**
 * The array grid end to end: Debian's Chromium (driven by playwright-core) against a real
 * mothership. A 60-element job is put into known states through the runners' API (some
 * succeeded, some failed with exit 3, some running, the rest pending); the job page draws one
 * cell per element in its status's colour (read back from the canvas' pixels), counts them, names
 * an element on hover, follows a task event live, selects by drag and shift-click and retries the
 * selection in one request, cancels another, opens an element's task on click and sets max
 * parallel. A 10,000-element job fits on the page and names its last element. A viewer is
 * offered no actions. The app is built into a folder of this file's own (BORG_WEB_DIR).
 */
import type { Job, TaskStatus } from '@borg/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestMothership, type TestRunner } from '../../../test/test-mothership.ts';
import { CELL_COLOURS } from '../src/pages/jobs/element-grid-drawing.ts';
import { buildDashboard, hasChromium, openBrowser, SCREENSHOTS } from './browser-session.ts';

describe.skipIf(!hasChromium)('the array grid in Chromium', { timeout: 90_000 }, () => {
  let borg: TestMothership;
  let browser: Browser;
  let page: Page;
  let dashboard: { remove: () => Promise<void> } | undefined;
  let runner: TestRunner;
  let job: Job;
  /** Element index → its first attempt's task id. */
  const taskOf = new Map<number, string>();
  let consoleErrors: string[] = [];

  const shot = (name: string, on: Page = page) => on.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  const grid = (on: Page = page) => on.getByTestId('element-grid');
  const countOf = async (status: TaskStatus, on: Page = page) => {
    const entry = grid(on).locator(`[data-testid=grid-count][data-status=${status}]`);
    return (await entry.count()) === 0 ? 0 : Number.parseInt((await entry.textContent())!, 10);
  };
  /** The centre of an element's cell, in page coordinates. */
  async function cellCentre(index: number, on: Page = page): Promise<{ x: number; y: number }> {
    const canvas = on.getByTestId('element-grid-canvas');
    const columns = Number(await canvas.getAttribute('data-columns'));
    const pitch = Number(await canvas.getAttribute('data-pitch'));
    const box = (await canvas.boundingBox())!;
    return {
      x: box.x + (index % columns) * pitch + (pitch - 1) / 2,
      y: box.y + Math.floor(index / columns) * pitch + (pitch - 1) / 2,
    };
  }
  /** The colour painted at the centre of an element's cell, as #rrggbb. */
  function colourOf(index: number): Promise<string> {
    return page.getByTestId('element-grid-canvas').evaluate((canvas: HTMLCanvasElement, i) => {
      const columns = Number(canvas.dataset.columns);
      const pitch = Number(canvas.dataset.pitch);
      const scale = canvas.width / (columns * pitch);
      const x = Math.floor(((i % columns) * pitch + (pitch - 1) / 2) * scale);
      const y = Math.floor((Math.floor(i / columns) * pitch + (pitch - 1) / 2) * scale);
      const [r, g, b] = canvas.getContext('2d')!.getImageData(x, y, 1, 1).data;
      return `#${[r, g, b].map((v) => v!.toString(16).padStart(2, '0')).join('')}`;
    }, index);
  }
  async function report(index: number, ending: 'succeeded' | 'failed'): Promise<void> {
    const id = taskOf.get(index)!;
    await runner.client.reportTaskStatus(id, { status: 'running' });
    await runner.client.reportTaskStatus(
      id,
      ending === 'failed' ? { status: 'failed', exit_code: 3 } : { status: 'succeeded', exit_code: 0 },
    );
  }

  beforeAll(async () => {
    dashboard = await buildDashboard('grid');
    borg = await TestMothership.start();
    ({ browser, page, consoleErrors } = await openBrowser());

    // 60 elements: 0-19 succeeded, 20-29 failed (exit 3), 30-34 running, 35-59 pending.
    const labels = { pool: 'grid' };
    job = await borg.admin.createJob({ name: 'grid sweep', type: 'shell', command: 'true', array_size: 60, labels });
    runner = await borg.registerRunner({ name: 'grid-runner', max_concurrent_tasks: 35, labels });
    const claimed = (await runner.client.nextTasks(runner.id, { wait: 0, max: 35 }))!.items;
    for (const task of claimed) taskOf.set(task.index, task.id);
    for (let i = 0; i < 20; i++) await report(i, 'succeeded');
    for (let i = 20; i < 30; i++) await report(i, 'failed');
    for (let i = 30; i < 35; i++) await runner.client.reportTaskStatus(taskOf.get(i)!, { status: 'running' });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await borg?.close();
    await dashboard?.remove();
  });

  it('draws every element in its status’s colour, counts them, and names one on hover', async () => {
    await page.goto(`${borg.url}/?token=${encodeURIComponent(borg.adminToken)}`);
    await page.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
    await page.goto(`${borg.url}/jobs/${job.id}`);
    await grid().waitFor();
    await expect.poll(() => countOf('pending')).toBe(25);
    expect([await countOf('succeeded'), await countOf('failed'), await countOf('running')]).toEqual([20, 10, 5]);
    expect(await page.getByTestId('element-grid-canvas').getAttribute('aria-label')).toBe(
      '60 elements: 25 pending, 5 running, 20 succeeded, 10 failed',
    );
    for (const [index, status] of [
      [0, 'succeeded'],
      [25, 'failed'],
      [32, 'running'],
      [50, 'pending'],
    ] as const) {
      expect(await colourOf(index), `element ${index}`).toBe(CELL_COLOURS[status]);
    }

    const { x, y } = await cellCentre(25);
    await page.mouse.move(x, y);
    await expect
      .poll(() => page.getByTestId('element-tooltip').textContent())
      .toBe('#25 failed · attempt 1 · runner grid-runner · exit 3');
    await grid().screenshot({ path: `${SCREENSHOTS}grid-01-hover.png` });
  });

  it('follows a task event live, without reloading the page', async () => {
    await report(30, 'succeeded');
    await expect.poll(() => countOf('succeeded')).toBe(21);
    expect(await countOf('running')).toBe(4);
    await expect.poll(() => colourOf(30)).toBe(CELL_COLOURS.succeeded);
  });

  it('selects by drag and shift-click and retries the selection in one request', async () => {
    const from = await cellCentre(20);
    const to = await cellCentre(24);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 4 });
    await page.mouse.up();
    await expect.poll(() => grid().getByTestId('grid-selection').textContent()).toBe('5 elements selected');
    const shift = await cellCentre(27);
    await page.keyboard.down('Shift');
    await page.mouse.click(shift.x, shift.y);
    await page.keyboard.up('Shift');
    await expect.poll(() => grid().getByTestId('grid-selection').textContent()).toBe('8 elements selected');
    await shot('grid-02-selected');

    const requests: string[] = [];
    page.on('request', (r) => r.url().includes('/elements/') && requests.push(`${r.method()} ${r.url()}`));
    await grid().getByRole('button', { name: 'Retry selected' }).click();
    await expect.poll(() => grid().getByRole('status').textContent()).toBe('Retried 8 elements.');
    expect(requests).toEqual([`POST ${borg.url}/api/v1/jobs/${job.id}/elements/retry`]);
    const elements = (await borg.admin.listJobElements(job.id)).items;
    expect(elements.slice(20, 30).map((e) => `${e.status}/${e.attempt}`)).toEqual([
      ...Array(8).fill('pending/2'),
      'failed/1',
      'failed/1',
    ]);
    await expect.poll(() => countOf('failed')).toBe(2);
    expect(await countOf('pending')).toBe(33);
  });

  it('cancels a selection, opens an element’s task on click, and sets max parallel', async () => {
    const from = await cellCentre(55);
    const to = await cellCentre(59);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 4 });
    await page.mouse.up();
    await grid().getByRole('button', { name: 'Cancel selected' }).click();
    await expect.poll(() => grid().getByRole('status').textContent()).toBe('Cancelled 5 elements.');
    await expect.poll(() => countOf('cancelled')).toBe(5);

    const five = await cellCentre(5);
    await page.mouse.click(five.x, five.y);
    await page.waitForURL(`${borg.url}/jobs/${job.id}?task=${taskOf.get(5)}`);
    await page.getByRole('heading', { name: 'Log of element #5, attempt 1' }).waitFor();

    const control = page.getByTestId('max-parallel');
    await control.getByRole('spinbutton').fill('7');
    await control.getByRole('button', { name: 'Set' }).click();
    await expect.poll(() => page.getByTestId('max-parallel-value').textContent()).toBe('7');
    expect((await borg.admin.getJob(job.id)).max_parallel).toBe(7);
    await shot('grid-03-max-parallel');
  });

  it('fits 10,000 elements on the page and names the last one', async () => {
    const big = await borg.admin.createJob({
      name: 'grid 10k',
      type: 'shell',
      command: 'true',
      array_size: 10_000,
      labels: { pool: 'nowhere' },
      unsatisfiable: 'queue',
    });
    await page.goto(`${borg.url}/jobs/${big.id}`);
    await expect.poll(() => countOf('pending'), { timeout: 30_000 }).toBe(10_000);
    const canvas = page.getByTestId('element-grid-canvas');
    const columns = Number(await canvas.getAttribute('data-columns'));
    const box = (await canvas.boundingBox())!;
    expect(columns * Math.ceil(10_000 / columns)).toBeGreaterThanOrEqual(10_000);
    expect(box.height).toBeLessThan(900);
    const last = await cellCentre(9_999);
    await page.mouse.move(last.x, last.y);
    await expect.poll(() => page.getByTestId('element-tooltip').textContent()).toMatch(/^#9999 pending · attempt 1/);
    await grid().screenshot({ path: `${SCREENSHOTS}grid-04-ten-thousand.png` });
    expect(consoleErrors).toEqual([]);
  });

  it('offers a viewer the grid but no actions on it', async () => {
    const { token } = await borg.admin.createToken({ name: 'wallboard', role: 'viewer' });
    const viewer = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await viewer.goto(`${borg.url}/?token=${encodeURIComponent(token)}`);
      await viewer.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
      await viewer.goto(`${borg.url}/jobs/${job.id}`);
      // A fresh page fetches the job and its elements first: on a loaded machine that takes over a second.
      await expect.poll(() => countOf('cancelled', viewer), { timeout: 15_000 }).toBe(5);
      await grid(viewer).getByRole('button', { name: 'Select failed' }).click();
      await expect.poll(() => grid(viewer).getByTestId('grid-selection').textContent()).toBe('2 elements selected');
      expect(await grid(viewer).getByRole('button', { name: 'Retry selected' }).count()).toBe(0);
      expect(await viewer.getByTestId('max-parallel').getByRole('button').count()).toBe(0);
      expect(await viewer.getByTestId('max-parallel-value').textContent()).toBe('7');
    } finally {
      await viewer.close();
    }
  });
});
