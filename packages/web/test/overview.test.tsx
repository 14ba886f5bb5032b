// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { JOB_STATUSES, RUNNER_STATUSES, type Stats, TASK_STATUSES } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { longestWaiting, offlineRunners, recentFailures } from '../src/pages/overview-attention.tsx';
import { OverviewPage } from '../src/pages/overview-page.tsx';
import { jobOf, runnerOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  stats: vi.fn(),
  statsTimeseries: vi.fn(() => new Promise(() => undefined)),
  listJobs: vi.fn(),
  listRunners: vi.fn(),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const ago = (minutes: number) => new Date(NOW - minutes * 60_000).toISOString();
const zero = <T extends readonly string[]>(keys: T) =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<T[number], 0>;
const stats: Stats = {
  jobs: { ...zero(JOB_STATUSES), failed: 3, queued: 3, total: 6 },
  tasks: zero(TASK_STATUSES),
  runners: { ...zero(RUNNER_STATUSES), offline: 2, online: 1, total: 3 },
  queue_depth: 3,
  oldest_pending_seconds: 7200,
  storage: {
    logs: { bytes: 3 * 1024 ** 3, count: 120_000 },
    artifacts: { bytes: 512 * 1024 ** 2, count: 1 },
    files: { bytes: 0, count: 0 },
    measured_at: ago(0),
  },
};

const failed = [
  jobOf({ id: 'f1', name: 'build 1', status: 'failed', completed_at: ago(5) }),
  jobOf({ id: 'f2', name: 'build 2', status: 'failed', completed_at: ago(50) }),
  jobOf({ id: 'f3', name: 'old build', status: 'failed', completed_at: ago(90) }),
];
const queued = [
  jobOf({ id: 'q1', name: 'newest', created_at: ago(1) }),
  jobOf({ id: 'q2', name: 'oldest', created_at: ago(120) }),
  jobOf({ id: 'q3', name: 'middle', created_at: ago(30), paused: true }),
];
const runners = [
  runnerOf({ id: 'r1', name: 'gone long ago', status: 'offline', last_heartbeat: ago(600) }),
  runnerOf({ id: 'r2', name: 'up', status: 'online', last_heartbeat: ago(0) }),
  runnerOf({ id: 'r3', name: 'just gone', status: 'offline', last_heartbeat: ago(3) }),
];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
  client.stats.mockResolvedValue(stats);
  client.listJobs.mockImplementation(async ({ status }: { status: string }) => ({
    items: status === 'failed' ? failed : queued,
    next_cursor: null,
  }));
  client.listRunners.mockResolvedValue({ items: runners, next_cursor: null });
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('what needs attention', () => {
  it('picks failures of the last hour, the longest waiting first, and the runners that went away', () => {
    expect(recentFailures(failed, NOW).map((j) => j.id)).toEqual(['f1', 'f2']);
    expect(longestWaiting(queued).map((j) => j.id)).toEqual(['q2', 'q3', 'q1']);
    expect(offlineRunners(runners).map((r) => r.id)).toEqual(['r3', 'r1']);
  });

  it('sits on the overview beside the counts, from the list endpoints with filters', async () => {
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <OverviewPage />
      </QueryClientProvider>,
    );
    const attention = await screen.findByRole('region', { name: 'Needs attention' });
    const failures = within(attention).getByRole('region', { name: 'Failed in the last hour' });
    expect(await within(failures).findAllByTestId('recent-failure')).toHaveLength(2);
    expect(within(failures).getByRole('link', { name: 'build 1' })).toHaveAttribute('href', '/jobs/f1');
    expect(within(failures).getByText('5 min ago')).toBeInTheDocument();
    expect(within(failures).queryByText('old build')).toBeNull();

    const waiting = within(attention).getByRole('region', { name: 'Waiting longest' });
    const rows = await within(waiting).findAllByTestId('waiting-job');
    expect(rows.map((r) => r.textContent)).toEqual([
      'oldestwaiting 2 h 0 min',
      'middlepaused, waiting 30 min 0 s',
      'newestwaiting 1 min 0 s',
    ]);

    const offline = within(attention).getByRole('region', { name: 'Runners offline' });
    const gone = await within(offline).findAllByTestId('offline-runner');
    expect(gone.map((r) => r.textContent)).toEqual([
      'just gonelast heard 3 min ago',
      'gone long agolast heard 10 h ago',
    ]);
    expect(client.listJobs).toHaveBeenCalledWith({ status: 'failed', limit: 500 });
    expect(client.listJobs).toHaveBeenCalledWith({ status: 'queued', limit: 500 });
  });

  it('says so when nothing needs attention', async () => {
    client.listJobs.mockResolvedValue({ items: [], next_cursor: null });
    client.listRunners.mockResolvedValue({ items: [runners[1]], next_cursor: null });
    render(
      <QueryClientProvider client={new QueryClient()}>
        <OverviewPage />
      </QueryClientProvider>,
    );
    expect(await screen.findByText('No job failed in the last hour.')).toBeInTheDocument();
    expect(await screen.findByText('Nothing is waiting.')).toBeInTheDocument();
    expect(await screen.findByText('Every runner is online.')).toBeInTheDocument();
  });
});

describe('storage used', () => {
  it('shows what logs, artifacts and uploaded files take, and how many things hold it', async () => {
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <OverviewPage />
      </QueryClientProvider>,
    );
    const storage = await screen.findByRole('region', { name: 'Storage used' });
    expect(within(storage).getByText(/^3\.5 GiB in all/)).toBeInTheDocument();
    expect(within(storage).getByTestId('storage-logs')).toHaveTextContent('Logs3.0 GiB120,000 chunks in the database');
    expect(within(storage).getByTestId('storage-artifacts')).toHaveTextContent(
      'Artifacts512 MiB1 file in the file store',
    );
    expect(within(storage).getByTestId('storage-files')).toHaveTextContent(
      'Uploaded files0 B0 files in the file store',
    );
  });
});
