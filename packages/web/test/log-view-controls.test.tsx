// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { LogLine } from '@borg/protocol';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import {
  gutterWidth,
  logHeight,
  LogView,
  ROW_HEIGHT,
  scrollTopFor,
  visibleWindow,
} from '../src/components/log-view.tsx';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const line = (index: number, message: string, stream: LogLine['stream'] = 'stdout'): LogLine => ({
  index,
  stream,
  message,
  timestamp: '2026-01-01T00:00:00.000Z',
});
const many = (count: number, errorAt?: number) =>
  Array.from({ length: count }, (_, i) => line(i, `line ${i + 1}`, i === errorAt ? 'stderr' : 'stdout'));

describe('the line-number gutter', () => {
  it('is as wide as the highest number shown, plus a gap', () => {
    expect(gutterWidth(1)).toBe('4ch');
    expect(gutterWidth(6)).toBe('7ch');
    expect(gutterWidth(7)).toBe('8ch');
  });

  it('sizes every line of a 100,000-line log for six digits', () => {
    render(<LogView lines={many(100_000)} height={400} />);
    const numbers = screen.getAllByTestId('line-number');
    expect(numbers.length).toBeGreaterThan(0);
    for (const n of numbers) expect(n.style.width).toBe('7ch');
  });
});

describe('jump to the first error', () => {
  it('is offered only when there are stderr lines', () => {
    render(<LogView lines={many(10)} />);
    expect(screen.queryByRole('button', { name: 'Jump to first error' })).toBeNull();
  });

  it('scrolls to the first stderr line, marks it and stops following', () => {
    render(<LogView lines={many(5000, 2500)} height={400} />);
    fireEvent.click(screen.getByRole('button', { name: 'Jump to first error' }));
    const box = screen.getByTestId('log-box');
    expect(box.scrollTop).toBe(scrollTopFor(2500, 5000, 400));
    const marked = document.querySelector('[data-marked]');
    expect(marked).toHaveTextContent('line 2501');
    expect(marked).toHaveAttribute('data-stream', 'stderr');
    expect(screen.getByRole('checkbox', { name: 'Follow' })).not.toBeChecked();
  });

  it('opens on a line given by a log search once that line has arrived, without following', () => {
    const { rerender } = render(<LogView lines={many(100)} height={400} jumpToLine={3000} />);
    expect(document.querySelector('[data-marked]')).toBeNull();
    rerender(<LogView lines={many(5000)} height={400} jumpToLine={3000} />);
    expect(screen.getByTestId('log-box').scrollTop).toBe(scrollTopFor(3000, 5000, 400));
    expect(document.querySelector('[data-marked]')).toHaveTextContent('line 3001');
    expect(screen.getByRole('checkbox', { name: 'Follow' })).not.toBeChecked();
  });

  it('clears a filter that hides the error before jumping', () => {
    render(<LogView lines={many(50, 40)} height={400} />);
    fireEvent.change(screen.getByLabelText('Stream'), { target: { value: 'stdout' } });
    fireEvent.click(screen.getByRole('button', { name: 'Jump to first error' }));
    expect(screen.getByLabelText('Stream')).toHaveValue('');
    expect(document.querySelector('[data-marked]')).toHaveTextContent('line 41');
  });

  it('lands on the line in a log past the browser height cap, too', () => {
    const count = 1_000_000;
    const top = scrollTopFor(900_000, count, 400);
    const { first, last } = visibleWindow(count, top, 400);
    expect(first).toBeLessThanOrEqual(900_000);
    expect(last).toBeGreaterThan(900_000);
    expect(scrollTopFor(0, count, 400)).toBe(0);
  });
});

describe('the log height and full screen', () => {
  it('follows the window: 70% of it, never under 320 px; full screen takes all but the toolbar', () => {
    expect(logHeight(1000, false)).toBe(700);
    expect(logHeight(300, false)).toBe(320);
    expect(logHeight(1000, true)).toBe(904);
  });

  it('grows with a tall window', () => {
    render(<LogView lines={many(10_000)} />);
    const box = screen.getByTestId('log-box');
    act(() => {
      Object.defineProperty(window, 'innerHeight', { value: 2000, configurable: true });
      window.dispatchEvent(new Event('resize'));
    });
    expect(box.style.height).toBe('1400px');
  });

  it('fills the window on request and leaves with Escape', () => {
    render(<LogView lines={many(3)} />);
    const toggle = screen.getByRole('button', { name: 'Full screen' });
    fireEvent.click(toggle);
    expect(toggle).toHaveAttribute('aria-pressed', 'true');
    expect(screen.getByTestId('log-view')).toHaveClass('fixed', 'inset-0');
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(toggle).toHaveAttribute('aria-pressed', 'false');
    expect(screen.getByTestId('log-view')).not.toHaveClass('fixed');
    expect(screen.getByTestId('log-box').style.height).toBe(`${6 * ROW_HEIGHT}px`);
  });

  it('opens the raw log as plain text in a new tab', async () => {
    const open = vi.spyOn(window, 'open').mockReturnValue(null);
    const blobs: Blob[] = [];
    URL.createObjectURL = (blob: Blob) => {
      blobs.push(blob);
      return 'blob:raw';
    };
    URL.revokeObjectURL = () => undefined;
    render(<LogView lines={[line(0, 'out'), line(1, 'bad', 'stderr')]} />);
    fireEvent.click(screen.getByRole('button', { name: 'Raw' }));
    expect(open).toHaveBeenCalledWith('blob:raw', '_blank');
    expect(blobs[0]!.type).toBe('text/plain;charset=utf-8');
    expect(await blobs[0]!.text()).toBe('out\n[stderr] bad\n');
  });
});
