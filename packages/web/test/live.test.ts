// @vitest-environment jsdom
import type { Job, JobPage, JobWithTasks, Runner } from '@borg/protocol';
import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';

import { Live, type TaskLog } from '../src/lib/live.ts';

const job = (id: string, status: Job['status']): Job =>
  ({ id, name: id, status, type: 'shell', labels: {}, env: {}, created_at: '2026-01-01T00:00:00.000Z' }) as Job;

type Pages = { pages: JobPage[]; pageParams: unknown[] };

/** A cache as the pages leave it, and the Live that patches it (no socket is opened). */
function setUp() {
  const queries = new QueryClient();
  const live = new Live(queries);
  const list = (filters: object, jobs: Job[]) =>
    queries.setQueryData<Pages>(['jobs', filters], {
      pages: [{ items: jobs, next_cursor: null }],
      pageParams: [undefined],
    });
  const invalidated = (key: unknown[]) => queries.getQueryState(key)?.isInvalidated ?? false;
  return { queries, live, list, invalidated };
}

describe('live events patch the query cache', () => {
  it('changes a job in every list and its detail, without refetching lists that still match', () => {
    const { queries, live, list, invalidated } = setUp();
    list({}, [job('a', 'queued'), job('b', 'queued')]);
    list({ status: 'queued,running' }, [job('a', 'queued')]);
    queries.setQueryData<JobWithTasks>(['job', 'a'], { ...job('a', 'queued'), tasks: [] });

    live.receive({ type: 'job.updated', topic: 'jobs', data: job('a', 'running') });
    const rows = (filters: object) =>
      queries.getQueryData<Pages>(['jobs', filters])!.pages[0]!.items.map((j) => `${j.id}:${j.status}`);
    expect(rows({})).toEqual(['a:running', 'b:queued']);
    expect(rows({ status: 'queued,running' })).toEqual(['a:running']);
    expect(queries.getQueryData<JobWithTasks>(['job', 'a'])!.status).toBe('running');
    expect(invalidated(['jobs', {}])).toBe(false);
  });

  it('refetches the lists for a job they do not hold, or one that left their status filter', () => {
    const first = setUp();
    first.list({}, [job('a', 'queued')]);
    first.live.receive({ type: 'job.updated', topic: 'jobs', data: job('new', 'queued') });
    expect(first.invalidated(['jobs', {}])).toBe(true);

    const second = setUp();
    second.list({ status: 'queued' }, [job('a', 'queued')]);
    second.live.receive({ type: 'job.updated', topic: 'jobs', data: job('a', 'running') });
    expect(second.invalidated(['jobs', { status: 'queued' }])).toBe(true);
  });

  it('appends log lines to a held log, skipping replays', () => {
    const { queries, live } = setUp();
    const at = '2026-01-01T00:00:00.000Z';
    queries.setQueryData<TaskLog>(['logs', 't'], {
      lines: [{ index: 0, stream: 'stdout', message: 'a', timestamp: at }],
    });
    live.receive({
      type: 'task.log',
      topic: 'task:t',
      data: {
        task_id: 't',
        lines: [
          { index: 0, stream: 'stdout', message: 'a', timestamp: at },
          { index: 1, stream: 'stderr', message: 'b', timestamp: at },
        ],
      },
    });
    expect(queries.getQueryData<TaskLog>(['logs', 't'])!.lines.map((l) => l.message)).toEqual(['a', 'b']);
  });

  it('puts a runner event into the list and its page', () => {
    const { queries, live } = setUp();
    const runner = (status: Runner['status']) => ({ id: 'r', name: 'r', status }) as Runner;
    queries.setQueryData(['runners'], { items: [runner('online')], next_cursor: null });
    queries.setQueryData(['runner', 'r'], runner('online'));
    live.receive({ type: 'runner.updated', topic: 'runners', data: runner('draining') });
    expect(queries.getQueryData<{ items: Runner[] }>(['runners'])!.items[0]!.status).toBe('draining');
    expect(queries.getQueryData<Runner>(['runner', 'r'])!.status).toBe('draining');
  });
});
