// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { LogLine } from '@borg/protocol';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';

import {
  LogLineView,
  logText,
  LogView,
  MAX_SCROLL_HEIGHT,
  ROW_HEIGHT,
  visibleWindow,
} from '../src/components/log-view.tsx';
import { StatusBadge } from '../src/components/status-badge.tsx';
import { appendLines, contiguousEnd } from '../src/lib/live.ts';

afterEach(cleanup);

const line = (index: number, message: string, stream: LogLine['stream'] = 'stdout'): LogLine => ({
  index,
  stream,
  message,
  timestamp: '2026-01-01T00:00:00.000Z',
});

describe('log line renderer', () => {
  it('renders markup as text: no element, no handler, no link is created from the log', () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
    const { container } = render(
      <div>
        <LogLineView line={line(0, hostile)} />
        <LogLineView line={line(1, '\x1b]8;;javascript:alert(1)\x1b\\click me\x1b]8;;\x1b\\')} />
      </div>,
    );
    expect(container.querySelector('img, script, a')).toBeNull();
    expect(container.textContent).toContain(hostile);
    expect(container.textContent).toContain('click me');
    expect(container.textContent).not.toContain('javascript:');
    expect((window as { pwned?: number }).pwned).toBeUndefined();
  });

  it('colours SGR spans with classes and marks stderr', () => {
    render(<LogLineView line={line(4, 'ok \x1b[31mred\x1b[0m', 'stderr')} />);
    const row = screen.getByTestId('log-line');
    expect(row).toHaveAttribute('data-stream', 'stderr');
    expect(screen.getByText('red')).toHaveClass('text-red-500');
    expect(row.textContent).toBe('5Eok red');
  });

  it('renders only the visible window of a huge log', () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => line(i, `line ${i}`));
    render(<LogView lines={lines} height={400} />);
    expect(screen.getAllByTestId('log-line').length).toBeLessThan(100);
    expect(screen.getByText('100000 lines')).toBeInTheDocument();
  });

  it('keeps a million-line log to a window of rows, and moves the window with the scroll', () => {
    const lines = Array.from({ length: 1_000_000 }, (_, i) => line(i, `line ${i}`));
    render(<LogView lines={lines} height={400} />);
    const box = screen.getByTestId('log-box');
    // 20 million pixels of log behind a scroll height every browser can hold.
    expect((box.firstElementChild as HTMLElement).style.height).toBe(`${MAX_SCROLL_HEIGHT}px`);
    box.scrollTop = (MAX_SCROLL_HEIGHT - 400) / 2;
    fireEvent.scroll(box);
    const rows = screen.getAllByTestId('log-line');
    expect(rows.length).toBeLessThan(100);
    expect(rows.map((r) => r.textContent)).toContain('500001line 500000');
  });

  it('maps the scroll position onto the log: one to one when short, proportionally when huge', () => {
    expect(visibleWindow(100, 0, 400)).toMatchObject({ spacer: 2000, first: 0, last: 40, rowsTop: 0 });
    expect(visibleWindow(100, 1000, 400)).toMatchObject({ first: 30, last: 90, rowsTop: 600 });
    const n = 1_000_000;
    const bottom = visibleWindow(n, MAX_SCROLL_HEIGHT - 400, 400);
    expect(bottom.last).toBe(n);
    // The last row ends at the bottom of the spacer: the log's end is reachable, no further.
    expect(bottom.rowsTop + (bottom.last - bottom.first) * ROW_HEIGHT).toBeCloseTo(MAX_SCROLL_HEIGHT, 3);
    expect(visibleWindow(n, 0, 400)).toMatchObject({ first: 0, rowsTop: 0 });
  });

  it('follows new lines until the reader scrolls up, and follows again on request', () => {
    const { rerender } = render(<LogView lines={[line(0, 'a')]} height={100} />);
    const box = screen.getByTestId('log-box');
    // jsdom lays nothing out: give the box the geometry a browser would.
    let scrollHeight = 1000;
    Object.defineProperty(box, 'scrollHeight', { get: () => scrollHeight, configurable: true });
    Object.defineProperty(box, 'clientHeight', { get: () => 100, configurable: true });
    const follow = () => screen.getByRole('checkbox', { name: 'Follow' }) as HTMLInputElement;

    rerender(<LogView lines={[line(0, 'a'), line(1, 'b')]} height={100} />);
    expect(box.scrollTop).toBe(1000);
    expect(follow().checked).toBe(true);

    box.scrollTop = 200;
    fireEvent.scroll(box);
    expect(follow().checked).toBe(false);
    scrollHeight = 2000;
    rerender(<LogView lines={[line(0, 'a'), line(1, 'b'), line(2, 'c')]} height={100} />);
    expect(box.scrollTop).toBe(200);

    fireEvent.click(screen.getByRole('button', { name: /Follow the end/ }));
    expect(box.scrollTop).toBe(2000);
    expect(follow().checked).toBe(true);
    expect(screen.queryByRole('button', { name: /Follow the end/ })).toBeNull();
  });

  it('shows timestamps on demand and filters by stream', () => {
    render(<LogView lines={[line(0, 'out'), line(1, 'err', 'stderr'), line(2, 'sys', 'system')]} />);
    expect(screen.queryAllByRole('time')).toHaveLength(0);
    expect(document.querySelectorAll('time')).toHaveLength(0);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Timestamps' }));
    const times = document.querySelectorAll('time');
    expect(times).toHaveLength(3);
    expect(times[0]).toHaveAttribute('datetime', '2026-01-01T00:00:00.000Z');
    expect(times[0]!.textContent).toMatch(/^\d\d:\d\d:\d\d\.000$/);
    fireEvent.change(screen.getByLabelText('Stream'), { target: { value: 'stderr' } });
    expect(screen.getAllByTestId('log-line').map((r) => r.dataset.stream)).toEqual(['stderr']);
    expect(screen.getByText('1 of 3 lines')).toBeInTheDocument();
  });

  it('downloads the whole log as plain text, streams marked, escapes removed', () => {
    const text = logText([line(0, '\x1b[31mred\x1b[0m'), line(1, 'oops', 'stderr')], false);
    expect(text).toBe('red\n[stderr] oops\n');
    expect(logText([line(0, 'x')], true)).toBe('2026-01-01T00:00:00.000Z x\n');
  });

  it('lets the log be downloaded only once every page of it has loaded', () => {
    const { rerender } = render(<LogView lines={[line(0, 'first page')]} loading />);
    const button = screen.getByRole('button', { name: 'Loading…' });
    expect(button).toBeDisabled();
    rerender(<LogView lines={[line(0, 'first page'), line(1, 'last page')]} />);
    expect(screen.getByRole('button', { name: 'Download' })).toBeEnabled();
  });

  it('searches without the escape codes getting in the way', () => {
    render(<LogView lines={[line(0, 'alpha'), line(1, '\x1b[1mbe\x1b[0mta'), line(2, 'gamma')]} />);
    fireEvent.change(screen.getByLabelText('Search the log'), { target: { value: 'beta' } });
    expect(screen.getByText('1 of 3 lines')).toBeInTheDocument();
    expect(screen.getAllByTestId('log-line')).toHaveLength(1);
  });
});

describe('StatusBadge', () => {
  it.each(['queued', 'running', 'succeeded', 'failed', 'timed_out', 'something-new'])('shows %s', (status) => {
    render(<StatusBadge status={status} />);
    const badge = screen.getByTestId('status');
    expect(badge).toHaveAttribute('data-status', status);
    expect(badge.textContent).toBe(status.replace('_', ' '));
  });
});

describe('holding a live log', () => {
  const l = (index: number) => line(index, `m${index}`);
  const indexes = (lines: LogLine[]) => lines.map((x) => x.index);

  it('appends new lines, skips replays, and merges lines fetched to fill a gap', () => {
    expect(indexes(appendLines([l(0), l(1)], [l(1), l(3), l(2)]))).toEqual([0, 1, 2, 3]);
    const withGap = appendLines([l(0), l(1)], [l(5)]);
    expect(indexes(withGap)).toEqual([0, 1, 5]);
    expect(indexes(appendLines(withGap, [l(2), l(3), l(4), l(5), l(6)]))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('finds where the lines held without a gap end', () => {
    expect(contiguousEnd([])).toBe(-1);
    expect(contiguousEnd([l(1)])).toBe(-1);
    expect(contiguousEnd([l(0), l(1), l(2)])).toBe(2);
    expect(contiguousEnd([l(0), l(1), l(5), l(6)])).toBe(1);
  });
});
