import type { Job } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';

describe('GET /jobs filters for the dashboard: name search, label, time range', () => {
  const borg = useTestMothership();
  const jobs: Record<string, Job> = {};

  const names = async (query: Parameters<ReturnType<typeof borg>['admin']['listJobs']>[0]) =>
    (await borg().admin.listJobs(query)).items.map((j) => j.name);

  it('sets up jobs created at known times', async () => {
    const make = async (name: string, labels: Record<string, string>, hoursAgo: number) => {
      const job = await borg().admin.createJob({ name, command: 'true', labels });
      await borg().db.query(`UPDATE jobs SET created_at = now() - make_interval(hours => $2) WHERE id = $1`, [
        job.id,
        hoursAgo,
      ]);
      jobs[name] = job;
    };
    await make('Nightly Build', { team: 'ci' }, 30);
    await make('nightly-test', { team: 'ci', gpu: 'yes' }, 5);
    await make('deploy 100%_done', { team: 'ops' }, 3);
    await make('backup', { team: 'ops' }, 1);
  });

  it('q finds a substring anywhere in the name, ignoring case, with LIKE wildcards taken literally', async () => {
    expect(await names({ q: 'NIGHTLY' })).toEqual(['nightly-test', 'Nightly Build']);
    expect(await names({ q: 'build' })).toEqual(['Nightly Build']);
    expect(await names({ q: '%_' })).toEqual(['deploy 100%_done']);
    expect(await names({ q: '_' })).toEqual(['deploy 100%_done']);
    expect(await names({ q: 'nothing like it' })).toEqual([]);
  });

  it('created_after and created_before bound the creation time, alone or together', async () => {
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();
    expect(await names({ created_after: hoursAgo(4) })).toEqual(['backup', 'deploy 100%_done']);
    expect(await names({ created_before: hoursAgo(4) })).toEqual(['nightly-test', 'Nightly Build']);
    expect(await names({ created_after: hoursAgo(24), created_before: hoursAgo(2) })).toEqual([
      'deploy 100%_done',
      'nightly-test',
    ]);
  });

  it('combines with label, status and name, and keeps keyset paging inside the filter', async () => {
    expect(await names({ label: 'team=ci', q: 'test' })).toEqual(['nightly-test']);
    expect(
      await names({ label: 'team=ops', created_after: new Date(Date.now() - 2 * 3600_000).toISOString() }),
    ).toEqual(['backup']);
    expect(await names({ status: 'queued', q: 'nightly' })).toEqual(['nightly-test', 'Nightly Build']);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 5; i++) {
      const page = await borg().admin.listJobs({ q: 'L', limit: 1, cursor });
      seen.push(...page.items.map((j) => j.name));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(['deploy 100%_done', 'nightly-test', 'Nightly Build']);
  });

  // Migration 0004: without the trigram index a rare name read every job (778 ms at 1,000,000).
  it('has a trigram index the name search can use, on either engine', async () => {
    const { db } = borg();
    const plan = await db.transaction(async (tx) => {
      // The table is tiny, so a scan would win on cost: forbid it to see that the index applies.
      await tx.query('SET LOCAL enable_seqscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
        "EXPLAIN SELECT id FROM jobs j WHERE j.name ILIKE '%ightly%'",
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('jobs_name_trgm_idx');
  });

  it('refuses a time that is not ISO-8601 and an empty search with a 400', async () => {
    for (const path of [
      '/api/v1/jobs?created_after=yesterday',
      '/api/v1/jobs?created_before=2026-13-01',
      '/api/v1/jobs?q=',
    ]) {
      const { status, body } = await rawRequest(borg().url, { path, token: borg().adminToken });
      expect(status, path).toBe(400);
      expect(body).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
  });
});

describe('GET /stats/timeseries', () => {
  const borg = useTestMothership();

  it('buckets finished tasks per minute and walks queue depth, waits and utilisation back in time', async () => {
    const { admin, db } = borg();
    const runner = await borg().registerRunner({ max_concurrent_tasks: 4 });
    const job = await admin.createJob({ name: 'series', command: 'true', array_size: 4 });

    // Claim three of the four tasks; two finish, one stays held; the fourth stays queued.
    const claimed = (await runner.client.nextTasks(runner.id, { max: 3 }))!.items;
    expect(claimed).toHaveLength(3);
    for (const task of claimed.slice(0, 2)) {
      await runner.client.reportTaskStatus(task.id, { status: 'running' });
    }
    await runner.client.reportTaskStatus(claimed[0]!.id, { status: 'succeeded', exit_code: 0 });
    await runner.client.reportTaskStatus(claimed[1]!.id, { status: 'failed', exit_code: 3 });

    // Place the events at known minutes: all four claimable 30 min ago, two claimed 20 min ago
    // and ended 10 min ago, the third claimed 5 min ago.
    const { rows } = await db.query<{ base: Date }>(
      "SELECT date_bin('1 minute', now(), TIMESTAMPTZ '2000-01-01') AS base",
    );
    const base = new Date(rows[0]!.base).getTime();
    const at = (minutesAgo: number) => `'${new Date(base - minutesAgo * 60_000 + 10_000).toISOString()}'::timestamptz`;
    await db.query(`UPDATE tasks SET available_at = ${at(30)}, created_at = ${at(30)} WHERE job_id = $1`, [job.id]);
    await db.query(
      `UPDATE tasks SET assigned_at = ${at(20)}, started_at = ${at(20)}, completed_at = ${at(10)} WHERE id = ANY($1::uuid[])`,
      [[claimed[0]!.id, claimed[1]!.id]],
    );
    await db.query(`UPDATE tasks SET assigned_at = ${at(5)} WHERE id = $1`, [claimed[2]!.id]);

    const series = await admin.statsTimeseries({ window: '1h' });
    expect(series.bucket_seconds).toBe(60);
    expect(series.window_seconds).toBe(3600);
    expect(series.points).toHaveLength(60);
    expect(series.capacity).toBe(4);
    // Found by time, not position: the minute may have turned since the set-up.
    const point = (minutesAgo: number) => {
      const t = new Date(base - minutesAgo * 60_000).toISOString();
      const found = series.points.find((p) => p.t === t);
      if (!found) throw new Error(`no point at ${t}`);
      return found;
    };
    const finished = series.points.map((p) => p.finished);
    expect(finished.reduce((a, b) => a + b, 0)).toBe(2);
    expect(point(10)).toMatchObject({ finished: 2, succeeded: 1, failed: 1, cancelled: 0 });

    // Queue: 0 before 30 min ago, 4 after, 2 after the claims 20 min ago, 1 after 5 min ago.
    expect(point(31).queue_depth).toBe(0);
    expect(point(30).queue_depth).toBe(4);
    expect(point(21).queue_depth).toBe(4);
    expect(point(20).queue_depth).toBe(2);
    expect(point(5).queue_depth).toBe(1);
    expect(point(0).queue_depth).toBe(1);

    // Held: 2 from 20 to 10 min ago, then 0, then 1 from 5 min ago (of 4 slots).
    expect(point(20)).toMatchObject({ held_tasks: 2, utilisation: 0.5 });
    expect(point(10).held_tasks).toBe(0);
    expect(point(5)).toMatchObject({ held_tasks: 1, utilisation: 0.25 });

    // Waits: both claims 20 min ago waited 10 minutes; the one 5 min ago waited 25.
    expect(point(20).wait_p50_seconds).toBeCloseTo(600, 3);
    expect(point(20).wait_p95_seconds).toBeCloseTo(600, 3);
    expect(point(5).wait_p50_seconds).toBeCloseTo(1500, 3);
    expect(point(6).wait_p50_seconds).toBeNull();
  });

  it('takes the windows it knows and refuses others', async () => {
    const day = await borg().admin.statsTimeseries({ window: '24h' });
    expect(day).toMatchObject({ window_seconds: 86_400, bucket_seconds: 1440 });
    expect(day.points).toHaveLength(60);
    const { status } = await rawRequest(borg().url, {
      path: '/api/v1/stats/timeseries?window=1y',
      token: borg().adminToken,
    });
    expect(status).toBe(400);
  });

  it('says when a silent runner turns offline', async () => {
    const stats = await borg().admin.stats();
    expect(stats.runner_offline_after_seconds).toBe(90);
  });
});

describe("a runner's page: its held tasks, drain and resume", () => {
  const borg = useTestMothership();

  it('lists the tasks a runner holds, and none of another runner or finished ones', async () => {
    const { admin } = borg();
    const runner = await borg().registerRunner({ max_concurrent_tasks: 2 });
    const other = await borg().registerRunner();
    const job = await admin.createJob({ name: 'held', command: 'sleep 1', array_size: 3 });
    const mine = (await runner.client.nextTasks(runner.id, { max: 2 }))!.items;
    const theirs = (await other.client.nextTasks(other.id, { max: 1 }))!.items;
    expect(mine).toHaveLength(2);
    await runner.client.reportTaskStatus(mine[0]!.id, { status: 'running' });
    await runner.client.reportTaskStatus(mine[0]!.id, { status: 'succeeded', exit_code: 0 });

    const held = await admin.runnerTasks(runner.id);
    expect(held.items.map((t) => t.id)).toEqual([mine[1]!.id]);
    expect(held.items[0]).toMatchObject({ job_id: job.id, status: 'assigned', runner_id: runner.id });
    expect((await admin.runnerTasks(other.id)).items.map((t) => t.id)).toEqual([theirs[0]!.id]);
    await expect(admin.runnerTasks('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ status: 404 });
    await expect(runner.client.runnerTasks(runner.id)).rejects.toMatchObject({ status: 403 });
  });

  it('drains and resumes a runner', async () => {
    const { admin } = borg();
    const runner = await borg().registerRunner();
    expect(await admin.drainRunner(runner.id)).toMatchObject({ draining: true, status: 'draining' });
    expect((await runner.client.heartbeat(runner.id, {})).draining).toBe(true);
    expect(await admin.resumeRunner(runner.id)).toMatchObject({ draining: false });
    expect((await runner.client.heartbeat(runner.id, {})).draining).toBe(false);
  });
});
