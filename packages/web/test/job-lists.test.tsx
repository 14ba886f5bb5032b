// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Identity } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { RelativeTime } from '../src/components/relative-time.tsx';
import type * as ApiModule from '../src/lib/api.ts';
import { formatTime, relativeTime } from '../src/lib/format.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { navigate } from '../src/lib/router.ts';
import { JobsPage } from '../src/pages/jobs/jobs-page.tsx';
import { jobOf } from './fixtures.ts';

const { listJobs } = vi.hoisted(() => ({ listJobs: vi.fn() }));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => ({ listJobs }),
}));

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();
const viewer: Identity = {
  token_id: '00000000-0000-4000-8000-000000000001',
  name: 'v',
  kind: 'user',
  role: 'viewer',
  runner_id: null,
};

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('relative times', () => {
  it.each([
    [2, 'just now'],
    [42, '42 s ago'],
    [3 * 60 + 20, '3 min ago'],
    [5 * 3600, '5 h ago'],
    [47 * 3600, '47 h ago'],
    [3 * 86_400, '3 d ago'],
    [-30, 'just now'],
  ])('%i s before now is "%s"', (seconds, words) => expect(relativeTime(ago(seconds), NOW)).toBe(words));

  it('gives the date itself past a month', () => {
    expect(relativeTime(ago(40 * 86_400), NOW)).toBe(new Date(ago(40 * 86_400)).toLocaleDateString());
  });

  it('shows the exact time in the viewer locale on hover', () => {
    render(<RelativeTime at={ago(180)} />);
    const time = screen.getByText('3 min ago');
    expect(time.tagName).toBe('TIME');
    expect(time).toHaveAttribute('title', formatTime(ago(180)));
    expect(time).toHaveAttribute('dateTime', ago(180));
  });
});

describe('the jobs list', () => {
  it('has a duration column, counting up for a running job, and relative creation times', async () => {
    listJobs.mockResolvedValue({
      items: [
        jobOf({
          id: 'a',
          name: 'done',
          status: 'failed',
          created_at: ago(600),
          started_at: ago(590),
          completed_at: ago(500),
        }),
        jobOf({ id: 'b', name: 'running', status: 'running', created_at: ago(7200), started_at: ago(125) }),
        jobOf({ id: 'c', name: 'waiting', status: 'queued', created_at: ago(3) }),
      ],
      next_cursor: null,
    });
    navigate('/jobs');
    render(
      <QueryClientProvider client={new QueryClient()}>
        <IdentityContext value={viewer}>
          <JobsPage />
        </IdentityContext>
      </QueryClientProvider>,
    );
    expect(await screen.findByRole('columnheader', { name: 'Duration' })).toBeInTheDocument();
    const rows = screen.getAllByTestId('job-row');
    const cell = (row: number) => within(rows[row]!).getByTestId('job-duration').textContent;
    expect([cell(0), cell(1), cell(2)]).toEqual(['1 min 30 s', '2 min 5 s', '—']);
    expect(within(rows[0]!).getByText('10 min ago')).toHaveAttribute('title', formatTime(ago(600)));
    expect(within(rows[1]!).getByText('2 h ago')).toBeInTheDocument();
    expect(within(rows[2]!).getByText('just now')).toBeInTheDocument();
  });

  it('shows who ran each job, linked, and a failed job its first failing element', async () => {
    const runner = (id: string, name: string, deleted = false) => ({ id, name, deleted });
    listJobs.mockResolvedValue({
      items: [
        jobOf({
          id: 'a',
          name: 'array',
          status: 'failed',
          array_size: 8,
          outcome: {
            runners: [runner('r1', 'gpu-1'), runner('r2', 'gpu-2'), runner('r3', 'old', true)],
            runner_count: 5,
            failure: { index: 4, attempt: 1, status: 'failed', exit_code: 3, reason: null, error: null },
          },
        }),
        jobOf({
          id: 'b',
          name: 'single',
          status: 'failed',
          outcome: {
            runners: [runner('r1', 'gpu-1')],
            runner_count: 1,
            failure: { index: 0, attempt: 2, status: 'timed_out', exit_code: null, reason: 'timed_out', error: null },
          },
        }),
        jobOf({ id: 'c', name: 'waiting', status: 'queued' }),
      ],
      next_cursor: null,
    });
    navigate('/jobs');
    render(
      <QueryClientProvider client={new QueryClient()}>
        <IdentityContext value={viewer}>
          <JobsPage />
        </IdentityContext>
      </QueryClientProvider>,
    );
    expect(await screen.findByRole('columnheader', { name: 'Ran on' })).toBeInTheDocument();
    const rows = screen.getAllByTestId('job-row');
    const ranOn = (row: number) => within(rows[row]!).getByTestId('ran-on');
    expect(ranOn(0)).toHaveTextContent('gpu-1, gpu-2, old +2');
    expect(within(ranOn(0)).getByRole('link', { name: 'gpu-2' })).toHaveAttribute('href', '/runners/r2');
    expect(within(ranOn(0)).queryByRole('link', { name: 'old' })).toBeNull();
    expect(ranOn(2)).toHaveTextContent('—');
    expect(within(rows[0]!).getByTestId('job-failure')).toHaveTextContent('#4 exited with 3');
    expect(within(rows[1]!).getByTestId('job-failure')).toHaveTextContent(/^timed out$/);
    expect(within(rows[2]!).queryByTestId('job-failure')).toBeNull();
  });
});
