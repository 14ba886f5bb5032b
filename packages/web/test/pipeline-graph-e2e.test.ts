/**
 * The dependency graph on the job page end to end: Debian's Chromium (driven by playwright-core)
 * against a real mothership and, once the graph has been looked at, a real solder. A diamond
 * pipeline is submitted through the API with its first job waiting for a runner label nobody has
 * yet; the last job's page draws the four jobs and their dependencies, a click on a box opens
 * that job, and when a solder with the label joins and the first job fails, the open page turns
 * skipped live, with the reason. The app is built into a folder of this file’s own (browser-session.ts),
 * so it never races another browser test's build. Screenshots go to packages/web/test-output/.
 */
import type { Pipeline } from '@borg/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { buildDashboard, hasChromium, openBrowser, SCREENSHOTS } from './browser-session.ts';

describe.skipIf(!hasChromium)('the dependency graph on the job page, in Chromium', { timeout: 60_000 }, () => {
  let borg: TestMothership;
  let solder: InProcessSolder | undefined;
  let browser: Browser;
  let page: Page;
  let app: Awaited<ReturnType<typeof buildDashboard>> | undefined;
  let pipeline: Pipeline;
  let consoleErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  const jobStatus = () => page.locator('h1 + [data-testid=status]').getAttribute('data-status');
  const graph = () => page.getByTestId('dependency-graph');
  const idOf = (name: string) => pipeline.jobs.find((j) => j.name === name)!.id;
  const nameOf = (id: string) => pipeline.jobs.find((j) => j.id === id)!.name;
  /** Each box’s text (name and status), by job id. */
  const boxes = async () =>
    Object.fromEntries(
      await graph()
        .getByTestId('graph-node')
        .evaluateAll((els) => els.map((e) => [e.dataset.jobId!, e.textContent!])),
    ) as Record<string, string>;
  /** Each edge's state, by "upstream → downstream" in names. */
  const edgeStates = async () => {
    const edges = await graph()
      .getByTestId('dependency-edge')
      .evaluateAll((els) => els.map((e) => [e.dataset.from!, e.dataset.to!, e.dataset.state!]));
    return Object.fromEntries(edges.map(([from, to, state]) => [`${nameOf(from!)} → ${nameOf(to!)}`, state]));
  };

  beforeAll(async () => {
    app = await buildDashboard('graph');
    borg = await TestMothership.start();
    ({ browser, page, consoleErrors } = await openBrowser());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await solder?.stop({ cancelRunning: true });
    await borg?.close();
    await app?.remove();
  });

  it('draws the diamond on the last job’s page, and a click on a box opens that job', async () => {
    pipeline = await borg.admin.createPipeline({
      name: 'graph-e2e',
      jobs: [
        // Waits for a runner with pool=graph: none exists until the next test starts one.
        {
          name: 'prep',
          command: 'echo "no input today" >&2; exit 3',
          labels: { pool: 'graph' },
          unsatisfiable: 'queue',
        },
        { name: 'train', command: 'true', depends_on: [{ name: 'prep' }] },
        { name: 'alert', command: 'echo prep failed', depends_on: [{ name: 'prep', condition: 'failed' }] },
        {
          name: 'report',
          command: 'true',
          depends_on: [{ name: 'train' }, { name: 'alert', condition: 'finished' }],
        },
      ],
    });
    await page.goto(`${borg.url}/?token=${encodeURIComponent(borg.adminToken)}`);
    await page.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
    await page.goto(`${borg.url}/jobs/${idOf('report')}`);
    await expect.poll(jobStatus).toBe('blocked');

    await graph().waitFor();
    expect(await boxes()).toEqual({
      [idOf('prep')]: 'prepqueued',
      [idOf('train')]: 'trainblocked',
      [idOf('alert')]: 'alertblocked',
      [idOf('report')]: 'reportblocked',
    });
    expect(await graph().locator('a[aria-current=page]').textContent()).toBe('reportblocked');
    expect(await edgeStates()).toEqual({
      'prep → train': 'waiting',
      'prep → alert': 'waiting',
      'train → report': 'waiting',
      'alert → report': 'waiting',
    });
    expect((await graph().getByTestId('dependency-condition').allTextContents()).sort()).toEqual([
      'if failed',
      'if finished',
    ]);
    // Left to right: prep, then train and alert in one column, then report.
    const x = async (name: string) =>
      (await graph()
        .getByRole('link', { name: new RegExp(`^${name}`) })
        .boundingBox())!.x;
    expect(await x('prep')).toBeLessThan(await x('train'));
    expect(await x('train')).toBe(await x('alert'));
    expect(await x('alert')).toBeLessThan(await x('report'));
    // What it waits for, in words, with each dependency's state.
    const waits = page.getByRole('list', { name: 'Waits for' }).getByTestId('dependency');
    expect((await waits.allTextContents()).sort()).toEqual([
      'Waits for alert to finishwaiting',
      'Waits for train to succeedwaiting',
    ]);
    await shot('pipeline-graph-01-blocked');

    await graph()
      .getByRole('link', { name: /^train/ })
      .click();
    await page.waitForURL(`${borg.url}/jobs/${idOf('train')}`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('train');
    await expect.poll(() => graph().locator('a[aria-current=page]').textContent()).toBe('trainblocked');
  });

  it('turns the open page skipped when the upstream fails, saying why', async () => {
    // The job page of train is open. A runner with the label arrives and prep fails.
    solder = await startSolder(borg, { name: 'graph-solder', labels: 'pool=graph', maxConcurrentTasks: 2 });
    await expect.poll(jobStatus, { timeout: 30_000 }).toBe('skipped');
    const banner = page.getByTestId('skip-banner');
    await banner.waitFor();
    expect(await banner.getByTestId('skip-reason').textContent()).toBe(
      `upstream job "prep" (${idOf('prep')}) ended failed; this job needed it to have succeeded`,
    );
    expect(await banner.getByRole('link', { name: 'prep' }).getAttribute('href')).toBe(`/jobs/${idOf('prep')}`);
    // Its attempt, skipped in the same statement (no task event for it), is fetched again.
    await expect
      .poll(() => page.locator('tbody [data-testid=status]').first().getAttribute('data-status'))
      .toBe('skipped');
    // No Retry on a skipped job: the banner says what to retry instead.
    expect(await page.getByRole('button', { name: 'Retry', exact: true }).count()).toBe(0);

    // The graph followed: prep failed, its edge to train unmet (dashed), alert ran, report skipped.
    await expect.poll(boxes, { timeout: 20_000 }).toEqual({
      [idOf('prep')]: 'prepfailed',
      [idOf('train')]: 'trainskipped',
      [idOf('alert')]: 'alertsucceeded',
      [idOf('report')]: 'reportskipped',
    });
    expect(await edgeStates()).toEqual({
      'prep → train': 'unmet',
      'prep → alert': 'met',
      'train → report': 'unmet',
      'alert → report': 'met',
    });
    const unmet = graph().locator('[data-testid=dependency-edge][data-state=unmet] path');
    expect(await unmet.evaluateAll((els) => els.map((e) => e.getAttribute('stroke-dasharray')))).toEqual([
      '6 4',
      '6 4',
    ]);
    await shot('pipeline-graph-02-skipped');

    // The jobs list says why, and its status filter offers the new states.
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const row = page.getByTestId('job-row').filter({ hasText: 'report' });
    await expect.poll(() => row.textContent()).toContain('train did not succeed');
    const filter = page.getByRole('combobox').filter({ hasText: 'any status' });
    expect(await filter.locator('option').allTextContents()).toEqual(expect.arrayContaining(['blocked', 'skipped']));
    expect(consoleErrors).toEqual([]);
  });
});
