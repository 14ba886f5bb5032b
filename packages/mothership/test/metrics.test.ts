import { randomUUID } from 'node:crypto';

import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { parsePrometheusText, sampleValue } from '../../../test/prometheus-text.ts';
import { rawRequest, TestMothership, useTestMothership } from '../../../test/test-mothership.ts';
import { DatabaseGauges, labelSetName } from '../src/metrics/database-gauges.ts';

/**
 * /metrics in the Prometheus text format: scraped over real HTTP, parsed strictly (every line a
 * HELP, TYPE or sample; histograms consistent), and its figures checked against work the test
 * did itself. This file's mothership is its own, so the counts are exact.
 */

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

describe('/metrics', () => {
  const borg = useTestMothership();

  async function scrape(token = borg().adminToken) {
    const response = await rawRequest(borg().url, { path: '/metrics', token });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(response.body as string);
  }

  it('needs a user token by default: none is 401, a runner token 403', async () => {
    const runner = await borg().registerRunner();
    expect((await rawRequest(borg().url, { path: '/metrics' })).status).toBe(401);
    expect((await rawRequest(borg().url, { path: '/metrics', token: runner.token })).status).toBe(403);
    expect((await rawRequest(borg().url, { path: '/metrics', token: borg().adminToken })).status).toBe(200);
  });

  it('reports the queue per label set, jobs, tasks and runners by state, and times claims and tasks', async () => {
    const labels = { pool: `metrics-${randomUUID().slice(0, 8)}`, gpu: 'true' };
    const runner = await borg().registerRunner({ labels, max_concurrent_tasks: 2 });
    const submittedAt = performance.now();
    const job = await borg().admin.createJob({
      name: 'measured',
      type: 'shell',
      command: 'true',
      labels,
      array_size: 2,
    });

    const set = { labels: labelSetName(labels) };
    expect(set.labels).toBe(`gpu=true,pool=${labels.pool}`);
    // An earlier scrape's snapshot may be up to 5 s old: wait for one that includes the job.
    let before = await scrape();
    await expect
      .poll(async () => sampleValue((before = await scrape()), 'borg_queue_depth', set), { timeout: 8_000 })
      .toBe(2);
    // The job's tasks are the oldest of their label set, pending since the submit.
    const sinceSubmit = (performance.now() - submittedAt) / 1000;
    expect(sampleValue(before, 'borg_queue_oldest_pending_seconds', set)).toBeGreaterThanOrEqual(0);
    expect(sampleValue(before, 'borg_queue_oldest_pending_seconds', set)).toBeLessThan(sinceSubmit + 1);
    expect(sampleValue(before, 'borg_queue_claimable_tasks')).toBeGreaterThanOrEqual(2);
    expect(sampleValue(before, 'borg_jobs', { status: 'queued' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(before, 'borg_tasks', { status: 'pending' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(before, 'borg_runners', { status: 'online' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(before, 'borg_database_up')).toBe(1);
    expect(sampleValue(before, 'borg_dispatch_latency_seconds_count')).toBe(0);

    const claimed = await runner.client.nextTasks(runner.id, { wait: 0, max: 2 });
    const [first, second] = claimed!.items;
    for (const task of [first!, second!]) await runner.client.reportTaskStatus(task.id, { status: 'running' });
    await new Promise((r) => setTimeout(r, 50)); // a duration to measure: the succeeded task runs 50 ms or more
    await runner.client.reportTaskStatus(first!.id, { status: 'succeeded', exit_code: 0 });
    await runner.client.reportTaskStatus(second!.id, { status: 'failed', exit_code: 3 });

    const after = await scrape();
    // Histograms are observed as things happen, not cached.
    expect(sampleValue(after, 'borg_dispatch_latency_seconds_count')).toBe(2);
    expect(sampleValue(after, 'borg_task_duration_seconds_count', { status: 'succeeded' })).toBe(1);
    expect(sampleValue(after, 'borg_task_duration_seconds_count', { status: 'failed' })).toBe(1);
    expect(sampleValue(after, 'borg_task_duration_seconds_sum', { status: 'succeeded' })).toBeGreaterThan(0.04);
    // Database figures come from a snapshot at most 5 s old, so a scrape right after the last
    // one repeats it rather than querying again.
    expect(sampleValue(after, 'borg_queue_depth', set)).toBe(2);

    const job_ = await borg().admin.getJob(job.id);
    expect(job_.status).toBe('failed');
  });

  it('times HTTP requests by route pattern and status, never by the raw URL', async () => {
    const job = await borg().admin.createJob({ name: 'for-http', type: 'shell', command: 'true', labels: { x: 'y' } });
    await borg().admin.getJob(job.id);
    await rawRequest(borg().url, { path: `/api/v1/jobs/${randomUUID()}`, token: borg().adminToken }); // 404
    // (a POST: every GET path is the dashboard's, a client-side route)
    await rawRequest(borg().url, {
      method: 'POST',
      path: `/no/such/${randomUUID()}?token=secret`,
      token: borg().adminToken,
      body: '{}',
    });

    const families = await scrape();
    const count = (labels: Record<string, string>) =>
      sampleValue(families, 'borg_http_request_duration_seconds_count', labels);
    expect(count({ method: 'POST', route: '/api/v1/jobs', status_code: '201' })).toBeGreaterThanOrEqual(1);
    expect(count({ method: 'GET', route: '/api/v1/jobs/:id', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(count({ method: 'GET', route: '/api/v1/jobs/:id', status_code: '404' })).toBe(1);
    expect(count({ method: 'POST', route: 'unmatched', status_code: '404' })).toBe(1);
    const routes = families.get('borg_http_request_duration_seconds')!.samples.map((s) => s.labels.route!);
    expect(routes.filter((r) => UUID.test(r) || r.includes('?'))).toEqual([]);
  });

  it('counts WebSocket clients of this replica, and says whether it leads maintenance', async () => {
    const socket = new WebSocket(`${borg().url.replace(/^http/, 'ws')}/ws`, {
      headers: { authorization: `Bearer ${borg().adminToken}` },
    });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    expect(sampleValue(await scrape(), 'borg_websocket_clients')).toBe(1);
    await new Promise((resolve) => {
      socket.once('close', resolve);
      socket.close();
    });
    await expect.poll(async () => sampleValue(await scrape(), 'borg_websocket_clients')).toBe(0);
    // This test drives maintenance by hand and has not run a round: it does not lead.
    expect(sampleValue(await scrape(), 'borg_maintenance_leader')).toBe(0);
    await borg().tick();
    expect(sampleValue(await scrape(), 'borg_maintenance_leader')).toBe(1);
  });

  it('includes the process metrics (CPU, memory, event loop) once', async () => {
    const families = await scrape();
    expect(sampleValue(families, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(families, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(families.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
  });

  it('reads the database at most once per cache period, however often it is scraped', async () => {
    // Two readers of the same database: one caching for an hour, one not at all. No sleeping, so
    // a slow machine cannot make the cache expire in the middle of the test.
    const cached = new Registry();
    new DatabaseGauges(borg().db, cached, 3_600_000);
    const uncached = new Registry();
    new DatabaseGauges(borg().db, uncached, 0);
    const pending = async (registry: Registry) =>
      sampleValue(parsePrometheusText(await registry.metrics()), 'borg_tasks', { status: 'pending' }) ?? 0;
    const first = await pending(cached);
    await borg().admin.createJob({ name: 'cache', type: 'shell', command: 'true', labels: { never: randomUUID() } });
    expect(await pending(cached)).toBe(first);
    expect(await pending(uncached)).toBe(first + 1);
  });

  it('answers every response with the request id it logged, and keeps a sane one a proxy sent', async () => {
    const plain = await rawRequest(borg().url, { path: '/healthz' });
    expect(plain.headers.get('x-request-id')).toMatch(UUID);
    const kept = await rawRequest(borg().url, { path: '/healthz', headers: { 'x-request-id': 'lb-1234.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-1234.abc');
    const replaced = await rawRequest(borg().url, {
      path: '/healthz',
      headers: { 'x-request-id': 'evil"\\ id with spaces' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(UUID);
  });
});

describe('/metrics with BORG_METRICS_PUBLIC=true', () => {
  let borg: TestMothership;
  beforeAll(async () => {
    borg = await TestMothership.start({ config: { metricsPublic: 'true' } });
  });
  afterAll(async () => {
    await borg?.close();
  });

  it('answers a scraper without a token, and every other route still needs one', async () => {
    const response = await rawRequest(borg.url, { path: '/metrics' });
    expect(response.status).toBe(200);
    expect(sampleValue(parsePrometheusText(response.body as string), 'borg_database_up')).toBe(1);
    expect((await rawRequest(borg.url, { path: '/api/v1/stats' })).status).toBe(401);
  });
});
