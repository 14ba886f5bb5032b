// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { durationInput, formatDuration, parseDuration } from '../src/lib/format.ts';
import { JobSpec } from '../src/pages/jobs/job-spec.tsx';
import { NewJobForm } from '../src/pages/jobs/new-job.tsx';
import { jobOf } from './fixtures.ts';

afterEach(cleanup);

describe('durations as typed', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['10m', 600],
    ['2h', 7200],
    ['1h30m', 5400],
    [' 1h 30m ', 5400],
    ['2D', 172_800],
    ['', undefined],
  ])('"%s" is %s seconds', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(['ten minutes', '10x', '1.5h', 'm10', '-5', '10m abc'])('"%s" is not a duration', (text) =>
    expect(parseDuration(text)).toBeNaN(),
  );

  it('writes seconds back as they would be typed, and reads them back the same', () => {
    for (const [seconds, text] of [
      [90, '90s'],
      [600, '10m'],
      [7200, '2h'],
      [5400, '1h30m'],
      [86_400, '1d'],
      [90_061, '1d1h1m1s'],
    ] as const) {
      expect(durationInput(seconds)).toBe(text);
      expect(parseDuration(text)).toBe(seconds);
    }
  });

  it('shows a duration to read with the one formatter', () => {
    expect(formatDuration(5400)).toBe('1 h 30 min');
    render(
      <QueryClientProvider client={new QueryClient()}>
        <JobSpec job={jobOf({ timeout_seconds: 5400 })} />
      </QueryClientProvider>,
    );
    expect(screen.getByText('1 h 30 min')).toBeInTheDocument();
  });
});

describe("the new-job form's timeout", () => {
  const fill = (timeout: string) => {
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'x' } });
    fireEvent.change(screen.getByLabelText('Shell command'), { target: { value: 'true' } });
    fireEvent.change(screen.getByLabelText('Timeout'), { target: { value: timeout } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));
  };

  it.each([
    ['90s', 90],
    ['10m', 600],
    ['2h', 7200],
    ['300', 300],
  ])('takes "%s" as %i seconds', async (typed, seconds) => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fill(typed);
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ timeout_seconds: seconds }));
  });

  it('says what a duration looks like when it is not one', () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fill('soon');
    expect(screen.getByLabelText('Timeout')).toHaveAccessibleDescription(/^the timeout is a duration such as 90s, 10m/);
    expect(onSubmit).not.toHaveBeenCalled();
  });
});
