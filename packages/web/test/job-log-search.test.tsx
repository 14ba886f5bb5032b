// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { LogSearchDone, LogSearchMatch } from '@borg/protocol';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { groupByElement, JobLogSearch, SEARCH_LIMIT } from '../src/pages/jobs/job-log-search.tsx';
import { FIXTURE_AT } from './fixtures.ts';

const client = vi.hoisted(() => ({ searchJobLogs: vi.fn() }));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

afterEach(cleanup);

const match = (index: number, line: number, message: string): LogSearchMatch => ({
  task_id: `task-${index}`,
  index,
  line,
  stream: 'stderr',
  message,
  timestamp: FIXTURE_AT,
});

describe('searching every log of a job', () => {
  it('groups matches by element, elements and lines in order', () => {
    const groups = groupByElement([match(7, 3, 'b'), match(2, 9, 'x'), match(7, 1, 'a')]);
    expect(groups.map((g) => [g.index, g.matches.map((m) => m.line)])).toEqual([
      [2, [9]],
      [7, [1, 3]],
    ]);
  });

  it('asks the server, shows the matches by element with links to their lines, and says when it was cut short', async () => {
    const done: LogSearchDone = { done: true, cut_short: true, reason: 'the time budget ran out', matches: 2 };
    client.searchJobLogs.mockImplementation(async function* () {
      yield match(412, 87, 'CUDA out of memory');
      yield match(3, 5, 'CUDA out of memory (again)');
      yield done;
    });
    render(<JobLogSearch jobId="job-1" />);
    fireEvent.change(screen.getByLabelText('Pattern (a regular expression)'), { target: { value: 'CUDA out of' } });
    fireEvent.change(screen.getByLabelText('Stream'), { target: { value: 'stderr' } });
    fireEvent.click(screen.getByRole('button', { name: 'Search' }));

    expect(
      await screen.findByText(/2 matches in 2 elements \(cut short: the time budget ran out\)/),
    ).toBeInTheDocument();
    expect(client.searchJobLogs).toHaveBeenCalledWith(
      'job-1',
      { q: 'CUDA out of', limit: SEARCH_LIMIT, stream: 'stderr' },
      expect.any(AbortSignal),
    );
    const elements = within(screen.getByRole('list', { name: 'Matches by element' })).getAllByRole('listitem', {
      name: '',
    });
    expect(elements[0]).toHaveTextContent('Element #3');
    expect(screen.getByRole('link', { name: 'line 88' })).toHaveAttribute('href', '/jobs/job-1?task=task-412&line=87');
  });

  it('refuses a pattern that could backtrack catastrophically before asking the server', () => {
    client.searchJobLogs.mockClear();
    render(<JobLogSearch jobId="job-1" />);
    fireEvent.change(screen.getByLabelText('Pattern (a regular expression)'), { target: { value: '(a+)+$' } });
    fireEvent.click(screen.getByRole('button', { name: 'Search' }));
    expect(screen.getByRole('alert')).toHaveTextContent('nested quantifiers');
    expect(client.searchJobLogs).not.toHaveBeenCalled();
  });
});
