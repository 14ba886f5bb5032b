// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Identity, LogLine, Task } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { endReason } from '../src/pages/jobs/attempt-row.tsx';
import { BANNER_LINES, failingAttempt, failureWords } from '../src/pages/jobs/failure-banner.tsx';
import { JobDetailPage } from '../src/pages/jobs/job-detail-page.tsx';
import { FIXTURE_AT, jobWithTasksOf, taskOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  getJob: vi.fn(),
  getTaskLogs: vi.fn(),
  listRunners: vi.fn(async () => ({ items: [], next_cursor: null })),
  listArtifacts: vi.fn(async () => ({ items: [], next_cursor: null })),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

afterEach(cleanup);

const attempt = (index: number, n: number, status: Task['status'], extra: Partial<Task> = {}): Task =>
  taskOf({ id: `t-${index}-${n}`, index, attempt: n, status, ...extra });

const lineOf = (index: number, message: string, stream: LogLine['stream'] = 'stdout'): LogLine => ({
  index,
  stream,
  message,
  timestamp: FIXTURE_AT,
});

const me: Identity = {
  token_id: '00000000-0000-4000-8000-000000000001',
  name: 'me',
  kind: 'user',
  role: 'admin',
  runner_id: null,
};

describe('the failing attempt', () => {
  it('is the lowest element whose last attempt failed; a retried success does not count', () => {
    const tasks = [
      attempt(0, 1, 'failed'),
      attempt(0, 2, 'succeeded'),
      attempt(1, 1, 'succeeded'),
      attempt(2, 1, 'timed_out'),
      attempt(3, 1, 'failed'),
    ];
    expect(failingAttempt(tasks)?.id).toBe('t-2-1');
    expect(failingAttempt([attempt(0, 1, 'succeeded')])).toBeUndefined();
  });

  it('says how it ended: its exit code, its error, or its end reason', () => {
    expect(endReason(attempt(0, 1, 'failed', { exit_code: 3 }))).toBe('exited with 3');
    expect(endReason(attempt(0, 1, 'failed', { exit_code: 3, error: 'OOM killed' }))).toBe('OOM killed');
    expect(endReason(attempt(0, 1, 'succeeded', { exit_code: 0 }))).toBe('');
    expect(failureWords(attempt(0, 1, 'lost', { reason: 'runner_lost' }))).toBe('lost: its runner went silent');
    expect(failureWords(attempt(0, 1, 'failed'))).toBe('failed');
  });
});

describe("a failed job's page", () => {
  it('opens on a banner with the failing element, its exit code and the end of its log', async () => {
    const tasks = [attempt(0, 1, 'succeeded', { exit_code: 0 }), attempt(1, 1, 'failed', { exit_code: 3 })];
    client.getJob.mockResolvedValue(jobWithTasksOf({ id: 'j', name: 'build', status: 'failed', array_size: 2, tasks }));
    const log = Array.from({ length: 40 }, (_, i) => lineOf(i, `line ${i + 1}`));
    log.push(lineOf(40, 'make: *** [test] Error 3', 'stderr'));
    client.getTaskLogs.mockResolvedValue({ items: log, next_cursor: null });
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <IdentityContext value={me}>
          <JobDetailPage id="j" />
        </IdentityContext>
      </QueryClientProvider>,
    );
    const banner = await screen.findByRole('region', { name: 'Element #1 failed on attempt 1: exited with 3' });
    const tail = await within(banner).findByRole('log', { name: /last lines/ });
    const shown = within(tail).getAllByTestId('log-line');
    expect(shown).toHaveLength(BANNER_LINES);
    expect(shown.at(-1)).toHaveTextContent('make: *** [test] Error 3');
    expect(tail).not.toHaveTextContent('line 29');
    expect(within(banner).getByRole('button', { name: 'Show the full log' })).toBeInTheDocument();
    // Both the banner and the log panel read the failing attempt's log: one request.
    expect(client.getTaskLogs).toHaveBeenCalledTimes(1);
    const reasons = screen.getAllByTestId('end-reason').map((cell) => cell.textContent);
    expect(reasons).toEqual(['', 'exited with 3']);
  });

  it('has no banner while the job has not failed', async () => {
    client.getJob.mockResolvedValue(
      jobWithTasksOf({ id: 'k', status: 'succeeded', tasks: [attempt(0, 1, 'succeeded')] }),
    );
    client.getTaskLogs.mockResolvedValue({ items: [], next_cursor: null });
    render(
      <QueryClientProvider client={new QueryClient()}>
        <IdentityContext value={me}>
          <JobDetailPage id="k" />
        </IdentityContext>
      </QueryClientProvider>,
    );
    await screen.findByRole('heading', { name: 'Attempts' });
    expect(screen.queryByTestId('failure-banner')).not.toBeInTheDocument();
  });
});
