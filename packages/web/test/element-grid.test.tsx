// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Identity, JobElement, Task } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { cliCommandOf } from '../src/pages/jobs/cli-command.ts';
import { ElementGrid } from '../src/pages/jobs/element-grid.tsx';
import { elementAt, layoutFor, range } from '../src/pages/jobs/element-grid-drawing.ts';
import { applyTaskEvent, ElementStates, openElementStates } from '../src/pages/jobs/element-states.ts';
import { jobOf, taskOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  listJobElements: vi.fn(),
  listRunners: vi.fn(async () => ({ items: [], next_cursor: null })),
  retryElements: vi.fn(),
  cancelElements: vi.fn(),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

const JOB = '00000000-0000-4000-8000-0000000000a1';
const element = (index: number, status: JobElement['status'], attempt = 1): JobElement => ({
  index,
  status,
  attempt,
  task_id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
  runner_id: null,
  exit_code: status === 'failed' ? 3 : null,
  cancel_requested: false,
});
const event = (index: number, status: Task['status'], attempt = 1): Task =>
  taskOf({ id: element(index, status, attempt).task_id, job_id: JOB, index, attempt, status });

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe('the elements of an array job, held for its grid', () => {
  it('takes events in order and keeps a later attempt over an earlier one', () => {
    const states = new ElementStates(JOB, 3);
    states.load([element(0, 'pending'), element(1, 'pending'), element(2, 'failed')]);
    states.apply(event(0, 'running'));
    states.apply(event(2, 'pending', 2));
    states.apply(event(2, 'failed', 1)); // a late event of the attempt before: ignored
    expect(states.counts()).toEqual({ running: 1, pending: 2 });
    expect(states.indexesWith(['pending'])).toEqual([1, 2]);
  });

  it('keeps what events said when the list fetched before them arrives after them', () => {
    const states = new ElementStates(JOB, 2);
    states.apply(event(0, 'succeeded'));
    states.apply(event(1, 'pending', 2));
    states.load([element(0, 'running'), element(1, 'failed', 1)]);
    expect([states.get(0)?.status, states.get(1)?.status, states.get(1)?.attempt]).toEqual(['succeeded', 'pending', 2]);
  });

  it('hears the task events of its own job only, while open', () => {
    const states = new ElementStates(JOB, 1);
    const close = openElementStates(states);
    applyTaskEvent({ ...event(0, 'running'), job_id: '00000000-0000-4000-8000-0000000000ff' });
    expect(states.get(0)).toBeUndefined();
    applyTaskEvent(event(0, 'running'));
    expect(states.get(0)?.status).toBe('running');
    close();
    applyTaskEvent(event(0, 'succeeded'));
    expect(states.get(0)?.status).toBe('running');
  });

  it('lays 10,000 cells out in a screen, and finds the cell under a point', () => {
    const layout = layoutFor(10_000, 1200);
    expect(layout).toMatchObject({ pitch: 7, columns: 171, rows: 59 });
    expect(elementAt(layout, 10_000, 3, 3)).toBe(0);
    expect(elementAt(layout, 10_000, 7 * 170 + 3, 7 * 57 + 3)).toBe(57 * 171 + 170);
    expect(elementAt(layout, 10_000, 7 * 81 + 3, 7 * 58 + 3)).toBe(9_999);
    expect(elementAt(layout, 10_000, 7 * 82 + 3, 7 * 58 + 3)).toBeNull();
    expect(elementAt(layout, 10_000, 7 * 171 + 1, 0)).toBeNull();
    expect(elementAt(layout, 10_000, 7 * 170 + 3, 7 * 59 + 3)).toBeNull();
    expect(range(5, 2)).toEqual([2, 3, 4, 5]);
  });

  it('copies max_parallel into the CLI command', () => {
    expect(cliCommandOf(jobOf({ command: 'true', array_size: 8, max_parallel: 2 }))).toContain(
      '--array 8 --max-parallel 2',
    );
  });
});

describe('the grid on the job page', () => {
  const renderGrid = (identity: Identity | null) => {
    client.listJobElements.mockResolvedValue({
      job_id: JOB,
      array_size: 4,
      max_parallel: null,
      items: [element(0, 'succeeded'), element(1, 'failed'), element(2, 'failed'), element(3, 'running')],
    });
    const queries = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={queries}>
        <IdentityContext.Provider value={identity}>
          <ElementGrid job={jobOf({ id: JOB, array_size: 4 })} />
        </IdentityContext.Provider>
      </QueryClientProvider>,
    );
  };

  it('counts the elements by status and retries the failed ones in one request', async () => {
    renderGrid(null);
    expect(await screen.findByText('2 failed')).toBeInTheDocument();
    expect(screen.getByText('1 succeeded')).toBeInTheDocument();
    expect(screen.getByRole('img')).toHaveAccessibleName('4 elements: 1 running, 1 succeeded, 2 failed');
    fireEvent.click(screen.getByRole('button', { name: 'Select failed' }));
    expect(screen.getByTestId('grid-selection')).toHaveTextContent('2 elements selected');
    client.retryElements.mockResolvedValue({ job: jobOf({ id: JOB, array_size: 4 }), indexes: [1, 2], skipped: 0 });
    fireEvent.click(screen.getByRole('button', { name: 'Retry selected' }));
    expect(await screen.findByRole('status')).toHaveTextContent('Retried 2 elements.');
    expect(client.retryElements).toHaveBeenCalledWith(JOB, { indexes: [1, 2] });
  });

  it('offers a viewer no element actions', async () => {
    renderGrid({ token_id: 't', name: 'wallboard', kind: 'user', role: 'viewer', runner_id: null });
    await screen.findByText('2 failed');
    fireEvent.click(screen.getByRole('button', { name: 'Select failed' }));
    expect(screen.queryByRole('button', { name: 'Retry selected' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Cancel selected' })).toBeNull();
  });
});
