// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { CreateJobRequest, Job } from '@borg/protocol';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { AttemptRow } from '../src/pages/jobs/attempt-row.tsx';
import { cliCommandOf } from '../src/pages/jobs/cli-command.ts';
import { initialValuesOf } from '../src/pages/jobs/job-clone.ts';
import { NewJobForm } from '../src/pages/jobs/new-job.tsx';
import { jobOf, taskOf } from './fixtures.ts';

afterEach(cleanup);

const change = (label: string | RegExp, value: string) =>
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
const submit = () => fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));

const withRules: Job = jobOf({
  id: 'j1',
  name: 'flaky',
  command: './flaky.sh',
  max_attempts: 3,
  retry: {
    max_attempts: 3,
    on_exit_codes: [1, 137],
    on_signals: ['SIGKILL'],
    on_lost: false,
    on_timeout: true,
    lost_counts: false,
    backoff: { initial: '10s', max: '10m' },
  },
  on_disconnect: { stop_after: '30s', keep: false },
});

async function submitted(onSubmit: ReturnType<typeof vi.fn>): Promise<CreateJobRequest> {
  await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
  return onSubmit.mock.calls[0]![0] as CreateJobRequest;
}

describe('retry rules on the dashboard', () => {
  it('the job form sends retry rules and a disconnect policy only when asked', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    change('Name', 'flaky');
    change('Shell command', './flaky.sh');
    change('Attempts', '3');
    expect(screen.queryByLabelText('Retry on exit codes')).toBeNull();
    fireEvent.click(screen.getByLabelText(/^Retry rules/));
    change('Retry on exit codes', '1, 137');
    change('Retry on signals', 'kill');
    fireEvent.click(screen.getByLabelText('Retry attempts that time out'));
    change('First wait', '10s');
    change('Longest wait', '10m');
    change('When its runner is cut off', 'keep');
    submit();
    const request = await submitted(onSubmit);
    expect(request.max_attempts).toBe(3);
    expect(request.retry).toEqual({
      on_exit_codes: [1, 137],
      on_signals: ['SIGKILL'],
      on_lost: true,
      lost_counts: false,
      on_timeout: true,
      backoff: { initial: '10s', max: '10m' },
    });
    expect(request.on_disconnect).toEqual({ keep: true });
  });

  it('puts a malformed rule next to the retry fields and sends nothing', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    change('Name', 'flaky');
    change('Shell command', './flaky.sh');
    fireEvent.click(screen.getByLabelText(/^Retry rules/));
    change('Retry on exit codes', '1, x');
    change('First wait', 'soon');
    submit();
    const fieldset = screen.getByRole('group', { name: 'Retries' });
    expect(await within(fieldset).findByTestId('field-error')).toHaveTextContent(/^on_exit_codes\.1: /);
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it('Run again fills the rules in, and the CLI line carries them', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} initial={initialValuesOf(withRules)} />);
    expect(screen.getByLabelText('Retry on exit codes')).toHaveValue('1, 137');
    expect(screen.getByLabelText('Retry on signals')).toHaveValue('KILL');
    expect(screen.getByLabelText('Retry attempts lost with their runner')).not.toBeChecked();
    expect(screen.getByLabelText('Stop after')).toHaveValue('30s');
    submit();
    const request = await submitted(onSubmit);
    expect(request.retry).toMatchObject({
      on_exit_codes: [1, 137],
      on_signals: ['SIGKILL'],
      on_lost: false,
      on_timeout: true,
      backoff: { initial: '10s', max: '10m' },
    });
    expect(request.on_disconnect).toEqual({ stop_after: '30s' });
    expect(cliCommandOf(withRules)).toBe(
      'borg submit --name flaky --attempts 3 --retry-on-exit 1,137 --retry-on-signal KILL --no-retry-on-lost ' +
        '--retry-on-timeout --retry-backoff 10s,10m --on-disconnect 30s -- ./flaky.sh',
    );
  });

  it('the attempt list says which rule retried an attempt and why another was not, and names a killing signal', () => {
    const retried = taskOf({
      id: 't1',
      attempt: 1,
      status: 'failed',
      signal: 'SIGKILL',
      retry_decision: {
        retried: true,
        rule: 'on_signals',
        counted: true,
        message: 'killed by SIGKILL matched on_signals (1 of 3 attempts used)',
      },
    });
    const stopped = taskOf({
      id: 't2',
      attempt: 2,
      status: 'failed',
      exit_code: 2,
      retry_decision: {
        retried: false,
        rule: 'on_exit_codes',
        counted: true,
        message: 'exit code 2 is not in on_exit_codes',
      },
    });
    render(
      <table>
        <tbody>
          {[retried, stopped].map((t) => (
            <AttemptRow
              key={t.id}
              task={t}
              jobId="j1"
              runnerName={undefined}
              selected={false}
              showGpus={false}
              columns={9}
            />
          ))}
        </tbody>
      </table>,
    );
    const [first, second] = screen.getAllByTestId('task-row');
    expect(first).toHaveTextContent('SIGKILL');
    expect(within(first!).getByTestId('retry-decision')).toHaveTextContent(
      'Retried: killed by SIGKILL matched on_signals (1 of 3 attempts used)',
    );
    expect(within(second!).getByTestId('retry-decision')).toHaveTextContent(
      'Not retried: exit code 2 is not in on_exit_codes',
    );
  });
});
