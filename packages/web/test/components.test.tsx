// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { LogLine } from '@borg/protocol';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { LogLineView, LogView } from '../src/components/log-view.tsx';
import { StatusBadge } from '../src/components/status-badge.tsx';
import { NewJobForm, parsePairs } from '../src/pages/jobs/new-job.tsx';

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

describe('NewJobForm', () => {
  it('builds a shell job request from the fields', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: ' build ' } });
    fireEvent.change(screen.getByLabelText('Shell command'), { target: { value: 'echo hi' } });
    fireEvent.change(screen.getByLabelText(/Environment/), { target: { value: 'A=1\nB=x=y\n' } });
    fireEvent.change(screen.getByLabelText('Attempts'), { target: { value: '3' } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith({
      name: 'build',
      type: 'shell',
      command: 'echo hi',
      env: { A: '1', B: 'x=y' },
      labels: undefined,
      max_attempts: 3,
      timeout_seconds: undefined,
    });
  });

  it('says what is wrong instead of submitting', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('a job needs a command');
    fireEvent.change(screen.getByLabelText('Shell command'), { target: { value: 'true' } });
    fireEvent.change(screen.getByLabelText(/labels/), { target: { value: 'gpu' } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('labels: "gpu" is not KEY=value');
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it('parses KEY=value lines', () => {
    expect(parsePairs('\n', 'env')).toBeUndefined();
    expect(() => parsePairs('=x', 'env')).toThrow('env: "=x" is not KEY=value');
  });
});
