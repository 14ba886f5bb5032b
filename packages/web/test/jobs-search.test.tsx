// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { navigate } from '../src/lib/router.ts';
import { TYPING_PAUSE_MS } from '../src/lib/use-debounced-callback.ts';
import { JobsPage } from '../src/pages/jobs/jobs-page.tsx';

const { listJobs } = vi.hoisted(() => ({
  listJobs: vi.fn(async (_query: { q?: string; label?: string }) => ({ items: [], next_cursor: null })),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => ({ listJobs }),
}));

const searches = () => listJobs.mock.calls.map(([query]) => query.q ?? '');
/** Lets timers and the promises they settle run, as that much time passing would. */
const pass = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms));

beforeEach(async () => {
  vi.useFakeTimers();
  listJobs.mockClear();
  navigate('/jobs');
  render(
    <QueryClientProvider client={new QueryClient()}>
      <JobsPage />
    </QueryClientProvider>,
  );
  await pass(0);
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('the jobs page name search', () => {
  it('fetches the list once typing pauses, not once per key', async () => {
    expect(searches()).toEqual(['']);
    for (const typed of ['b', 'bu', 'bui', 'buil', 'build']) {
      fireEvent.change(screen.getByLabelText('Search names'), { target: { value: typed } });
      await pass(TYPING_PAUSE_MS - 50);
    }
    expect(searches()).toEqual(['']);
    expect(location.search).toBe('');

    await pass(50);
    expect(searches()).toEqual(['', 'build']);
    expect(location.search).toBe('?q=build');
  });

  it('keeps what was typed in one text filter when another is typed in during the pause', async () => {
    fireEvent.change(screen.getByLabelText('Search names'), { target: { value: 'build' } });
    fireEvent.change(screen.getByLabelText('Label'), { target: { value: 'team=ci' } });
    await pass(TYPING_PAUSE_MS);
    expect(new URLSearchParams(location.search).get('q')).toBe('build');
    expect(new URLSearchParams(location.search).get('label')).toBe('team=ci');
    expect(listJobs).toHaveBeenLastCalledWith(expect.objectContaining({ q: 'build', label: 'team=ci' }));
  });

  it('drops a search still waiting when the page goes away', async () => {
    fireEvent.change(screen.getByLabelText('Search names'), { target: { value: 'build' } });
    cleanup();
    navigate('/runners');
    await pass(TYPING_PAUSE_MS * 2);
    expect(location.pathname).toBe('/runners');
    expect(searches()).toEqual(['']);
  });
});
