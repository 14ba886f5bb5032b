// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { BorgApiError, type Task } from '@borg/protocol';
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { linePaths } from '../src/components/chart.tsx';
import { atMostEvery } from '../src/lib/live.ts';
import { ArrayProgress, countByGroup, latestAttempts } from '../src/pages/jobs/array-progress.tsx';
import { confirmAction, describeBulk, runBulk } from '../src/pages/jobs/bulk-actions.ts';
import { endReason } from '../src/pages/jobs/job-detail-page.tsx';
import { keepingText } from '../src/pages/jobs/job-keeping.tsx';
import { filtersFromSearch } from '../src/pages/jobs/jobs-page.tsx';
import { HeartbeatCountdown, secondsToOffline } from '../src/pages/runners/heartbeat.tsx';
import { describeResources } from '../src/pages/runners/runner-detail-page.tsx';
import { jobOf, runnerOf, taskOf } from './fixtures.ts';

afterEach(cleanup);

const task = (index: number, attempt: number, status: Task['status'], extra: Partial<Task> = {}): Task =>
  taskOf({ id: `t-${index}-${attempt}`, job_id: 'j', index, attempt, status, ...extra });

describe('bulk job actions', () => {
  it('applies the action to every job, collecting refusals instead of stopping', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    const seen: string[] = [];
    const result = await runBulk('pause', ids, async (action, id) => {
      seen.push(`${action}:${id}`);
      if (id === 'job-3') throw new BorgApiError(409, 'ILLEGAL_TRANSITION', 'job-3 has finished');
      return jobOf({ id });
    });
    expect(seen.sort()).toEqual(ids.map((id) => `pause:${id}`).sort());
    expect(result.done).toHaveLength(9);
    expect(result.refused).toEqual([{ id: 'job-3', message: 'job-3 has finished' }]);
    expect(describeBulk('pause', result)).toBe('9 paused, 1 refused (job-3 has finished)');
  });
});

describe("a job's keeping", () => {
  it('says in words what keeps the job: pinned, its own retention, keep_last, or the server default', () => {
    expect(keepingText({ pinned: true, retention: '30d', keep_last: 3 })).toBe('Pinned: kept until unpinned');
    expect(keepingText({ pinned: false, retention: '30d', keep_last: null })).toBe('Kept for 30d after it ends');
    expect(keepingText({ pinned: false, retention: null, keep_last: 5 })).toBe(
      "Kept for the server's retention after it ends, or while among the newest 5 of its name",
    );
  });

  it('asks before deleting, and only before deleting', () => {
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(false);
    expect(confirmAction('cancel', 3)).toBe(true);
    expect(confirm).not.toHaveBeenCalled();
    expect(confirmAction('delete', 3)).toBe(false);
    expect(confirm).toHaveBeenCalledWith(expect.stringContaining('Delete 3 jobs'));
    confirm.mockRestore();
  });
});

describe('array progress', () => {
  const tasks = [
    task(0, 1, 'failed'),
    task(0, 2, 'succeeded'),
    task(1, 1, 'running'),
    task(2, 1, 'lost'),
    task(3, 1, 'pending'),
  ];

  it('counts the latest attempt of each element', () => {
    expect(latestAttempts(tasks).map((t) => t.id)).toEqual(['t-0-2', 't-1-1', 't-2-1', 't-3-1']);
    expect(countByGroup(tasks)).toEqual({ succeeded: 1, failed: 1, running: 1, cancelled: 0, pending: 1 });
  });

  it('draws one bar with the counts in words', () => {
    render(<ArrayProgress tasks={tasks} size={4} />);
    expect(screen.getByText('1 of 4 elements succeeded')).toBeInTheDocument();
    expect(screen.getByRole('img')).toHaveAccessibleName('1 succeeded, 1 failed, 1 running, 0 cancelled, 1 pending');
  });
});

describe("an attempt's end reason", () => {
  it.each([
    [task(0, 1, 'lost', { reason: 'runner_lost' }), 'lost: its runner went silent'],
    [task(0, 1, 'timed_out'), 'timed out'],
    [task(0, 1, 'cancelled', { reason: 'cancelled' }), 'cancelled by a user'],
    [task(0, 1, 'cancelled', { reason: 'agent_stop' }), 'stopped: its runner shut down'],
    [task(0, 1, 'cancelled', { cancel_requested: true }), 'cancelled by a user'],
    [task(0, 1, 'failed', { error: 'exit code 3' }), 'exit code 3'],
    [task(0, 1, 'succeeded'), ''],
  ])('%#', (t, words) => expect(endReason(t)).toBe(words));
});

describe('jobs page filters', () => {
  const now = Date.parse('2026-01-02T12:00:00.000Z');
  it('turns URL parameters into the API query', () => {
    expect(filtersFromSearch(new URLSearchParams('q=build&status=failed&label=team%3Dci&since=1h'), now)).toEqual({
      q: 'build',
      status: 'failed',
      label: 'team=ci',
      created_after: '2026-01-02T11:00:00.000Z',
      created_before: undefined,
    });
    const custom = filtersFromSearch(new URLSearchParams('from=2026-01-01T10:00&to=bad&label=incomplete'), now);
    expect(custom.created_after).toBe(new Date('2026-01-01T10:00').toISOString());
    expect(custom.created_before).toBeUndefined();
    expect(custom.label).toBeUndefined();
  });
});

describe('runner details', () => {
  const runner = runnerOf({ status: 'online', last_heartbeat: '2026-01-01T00:00:00.000Z' });
  it('counts down to offline from the last heartbeat', () => {
    const t0 = Date.parse(runner.last_heartbeat!);
    expect(secondsToOffline(runner, 90, t0 + 30_000)).toBe(60);
    expect(secondsToOffline(runner, 90, t0 + 120_000)).toBe(0);
    expect(secondsToOffline({ ...runner, status: 'offline' }, 90, t0)).toBeNull();
    expect(secondsToOffline(runner, undefined, t0)).toBeNull();
  });

  it('reads what the solder reports, and survives what it does not', () => {
    const described = describeResources({
      cpu: { model: 'EPYC', cores: 16 },
      memory: { total_bytes: 64 * 1024 ** 3, free_bytes: 8 * 1024 ** 3 },
      gpus: [{ name: 'H200', memory_total_mib: 143_771, driver: '570.1' }],
      ip_addresses: ['10.0.0.5', 42],
      disk: { work_dir_free_bytes: null },
    });
    expect(described).toMatchObject({
      cpu: 'EPYC, 16 cores',
      memory: '64 GiB (8.0 GiB free)',
      gpus: ['H200, 143771 MiB, driver 570.1'],
      ips: ['10.0.0.5'],
      disk: '',
    });
    expect(describeResources({ cpu: 'weird', gpus: 'none' })).toMatchObject({ cpu: '', gpus: [], ips: [] });
  });
});

describe('charts', () => {
  it('splits a line at gaps and clamps to the scale', () => {
    expect(linePaths([1, 2, null, 4], 2)).toEqual(['0.0,60.0 200.0,0.0', '600.0,0.0 600.0,0.0']);
  });
});

describe('refetch throttling for bursts of live events', () => {
  it('runs at once, folds a burst into one trailing call, and never drops the last', () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const refetch = atMostEvery(1000, () => calls++);
      refetch();
      expect(calls).toBe(1);
      for (let i = 0; i < 100; i++) refetch();
      expect(calls).toBe(1);
      vi.advanceTimersByTime(1000);
      expect(calls).toBe(2);
      vi.advanceTimersByTime(5000);
      expect(calls).toBe(2);
      refetch();
      expect(calls).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('HeartbeatCountdown', () => {
  it('counts down each second from the last heartbeat, and restarts with a new one', () => {
    vi.useFakeTimers();
    try {
      vi.setSystemTime(Date.parse('2026-01-01T00:00:10.000Z'));
      const runner = runnerOf({ status: 'online', last_heartbeat: '2026-01-01T00:00:00.000Z' });
      const { rerender } = render(<HeartbeatCountdown runner={runner} offlineAfter={90} />);
      expect(screen.getByTestId('heartbeat')).toHaveTextContent('10 s ago, offline in 1 min 20 s');
      act(() => vi.advanceTimersByTime(5000));
      expect(screen.getByTestId('heartbeat')).toHaveTextContent('15 s ago, offline in 1 min 15 s');
      rerender(
        <HeartbeatCountdown runner={{ ...runner, last_heartbeat: '2026-01-01T00:00:15.000Z' }} offlineAfter={90} />,
      );
      expect(screen.getByTestId('heartbeat')).toHaveTextContent('0 s ago, offline in 1 min 30 s');
      act(() => vi.advanceTimersByTime(100_000));
      expect(screen.getByTestId('heartbeat')).toHaveTextContent('overdue: going offline');
    } finally {
      vi.useRealTimers();
    }
  });
});
