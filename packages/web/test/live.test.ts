// @vitest-environment jsdom
import type { Job, JobPage, JobWithTasks, Runner, Task } from '@borg/protocol';
import { QueryClient, QueryObserver } from '@tanstack/react-query';
import { describe, expect, it, vi } from 'vitest';

import { Live, type TaskLog } from '../src/lib/live.ts';
import { jobOf, runnerOf, taskOf } from './fixtures.ts';

const job = (id: string, status: Job['status']): Job => jobOf({ id, name: id, status });

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

  it('takes deleted jobs out of every list at once, and reads an open job page again', () => {
    const { queries, live, list, invalidated } = setUp();
    list({}, [job('a', 'succeeded'), job('b', 'failed'), job('c', 'queued')]);
    list({ status: 'failed' }, [job('b', 'failed')]);
    queries.setQueryData<JobWithTasks>(['job', 'b'], { ...job('b', 'failed'), tasks: [] });

    live.receive({ type: 'jobs.deleted', topic: 'jobs', data: { ids: ['a', 'b'] } });
    const ids = (filters: object) => queries.getQueryData<Pages>(['jobs', filters])!.pages[0]!.items.map((j) => j.id);
    expect(ids({})).toEqual(['c']);
    expect(ids({ status: 'failed' })).toEqual([]);
    expect(invalidated(['job', 'b'])).toBe(true);
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

  it('replaces a fetch of a job that was in flight when an event about it came, so the older answer cannot win', async () => {
    const { queries, live } = setUp();
    const running = taskOf({ id: 't', job_id: 'a', status: 'running' });
    const cancelled: Task = { ...running, status: 'cancelled', reason: 'cancelled' };
    queries.setQueryData<JobWithTasks>(['job', 'a'], { ...job('a', 'running'), tasks: [running] });

    // The server's state as each fetch reads it: the first read is answered before the task ends
    // and arrives after the event; a fetch started after the event reads the ended task.
    let serverTask = running;
    let releaseFirst: () => void = () => undefined;
    let fetches = 0;
    const queryFn = async (): Promise<JobWithTasks> => {
      fetches++;
      const answer = { ...job('a', 'running'), tasks: [serverTask] };
      if (fetches === 1) await new Promise<void>((resolve) => (releaseFirst = resolve));
      return answer;
    };
    // The job page observes the query; its Cancel action invalidates it, which starts fetch 1.
    const observer = new QueryObserver(queries, { queryKey: ['job', 'a'], queryFn, staleTime: Infinity });
    const unsubscribe = observer.subscribe(() => undefined);
    void queries.invalidateQueries({ queryKey: ['job', 'a'] });
    await vi.waitFor(() => expect(fetches).toBe(1));

    serverTask = cancelled;
    live.receive({ type: 'task.updated', topic: 'job:a', data: cancelled });
    releaseFirst();
    await vi.waitFor(() => expect(queries.isFetching({ queryKey: ['job', 'a'] })).toBe(0));
    unsubscribe();

    expect(fetches).toBe(2);
    expect(queries.getQueryData<JobWithTasks>(['job', 'a'])!.tasks[0]!.status).toBe('cancelled');
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
    const runner = (status: Runner['status']): Runner => runnerOf({ id: 'r', name: 'r', status });
    queries.setQueryData(['runners'], { items: [runner('online')], next_cursor: null });
    queries.setQueryData(['runner', 'r'], runner('online'));
    live.receive({ type: 'runner.updated', topic: 'runners', data: runner('draining') });
    expect(queries.getQueryData<{ items: Runner[] }>(['runners'])!.items[0]!.status).toBe('draining');
    expect(queries.getQueryData<Runner>(['runner', 'r'])!.status).toBe('draining');
  });
});

describe('a topic the server could not resume (resync)', () => {
  it('fetches again what that topic shows, and nothing else', () => {
    const { queries, live, list, invalidated } = setUp();
    list({}, [job('a', 'running'), job('b', 'running')]);
    for (const id of ['a', 'b']) queries.setQueryData<JobWithTasks>(['job', id], { ...job(id, 'running'), tasks: [] });
    queries.setQueryData(['job-elements', 'a'], { items: [] });
    queries.setQueryData<TaskLog>(['logs', 't'], { lines: [] });
    queries.setQueryData<TaskLog>(['logs', 'u'], { lines: [] });
    queries.setQueryData(['runners'], { items: [], next_cursor: null });
    queries.setQueryData(['stats'], {});

    live.receive({ type: 'resync', topic: 'job:a', reason: 'too_old' });
    live.receive({ type: 'resync', topic: 'task:t', reason: 'unknown_epoch' });
    expect(invalidated(['job', 'a'])).toBe(true);
    expect(invalidated(['job-elements', 'a'])).toBe(true);
    expect(invalidated(['logs', 't'])).toBe(true);
    for (const untouched of [['job', 'b'], ['logs', 'u'], ['jobs', {}], ['runners'], ['stats']]) {
      expect(invalidated(untouched)).toBe(false);
    }

    live.receive({ type: 'resync', topic: 'jobs', reason: 'too_large' });
    expect([['job', 'b'], ['jobs', {}], ['stats']].map(invalidated)).toEqual([true, true, true]);
    expect(invalidated(['runners'])).toBe(false);
    live.receive({ type: 'resync', topic: 'runners', reason: 'too_old' });
    expect(invalidated(['runners'])).toBe(true);
  });
});
