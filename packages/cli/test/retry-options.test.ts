import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir } from './borg-cli.ts';

/** `borg submit`'s retry and disconnect options, and `borg jobs show` saying which rule retried what. */
describe('borg submit retry options and borg jobs show', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());
  let solder: InProcessSolder;

  beforeAll(async () => {
    solder = await startSolder(mothership(), { labels: { pool: 'retry-cli' } });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  it('submits the rules, retries a listed exit code, and shows the decision in the attempt list', async () => {
    const submitted = await borg(
      [
        ...['submit', '--follow', '--label', 'pool=retry-cli', '--attempts', '3'],
        ...['--retry-on-exit', '3,137', '--retry-on-signal', 'kill', '--no-retry-on-lost'],
        ...['--retry-backoff', '100ms,1s', '--on-disconnect', 'keep'],
        '--',
        'if [ "$BORG_ATTEMPT" = 1 ]; then exit 3; fi; if [ "$BORG_ATTEMPT" = 2 ]; then exit 4; fi',
      ],
      { env: env() },
    );
    expect(submitted.code).toBe(4); // the job failed: attempt 2 exited with 4, which is not listed
    const jobId = /job ([0-9a-f-]{36})/.exec(submitted.stderr)![1]!;
    const job = await mothership().admin.getJob(jobId);
    expect(job.retry).toEqual({
      max_attempts: 3,
      on_exit_codes: [3, 137],
      on_signals: ['SIGKILL'],
      on_lost: false,
      on_timeout: false,
      lost_counts: false,
      backoff: { initial: '100ms', max: '1s' },
    });
    expect(job.on_disconnect).toEqual({ stop_after: null, keep: true });

    const shown = await borg(['jobs', 'show', jobId], { env: env() });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^retry: +on exit 3,137, SIGKILL; backoff 100ms-1s$/m);
    expect(shown.stdout).toMatch(/^on disconnect: +keep running$/m);
    expect(shown.stdout).toMatch(/ RETRY/);
    expect(shown.stdout).toMatch(/retried: exit code 3 matched on_exit_codes \(1 of 3 attempts used\)/);
    expect(shown.stdout).toMatch(/not retried: exit code 4 is not in on_exit_codes/);
  });

  it('refuses malformed retry options with one line', async () => {
    for (const [flags, message] of [
      [['--retry-on-exit', '1,x'], /--retry-on-exit "1,x" is not a list of exit codes/],
      [['--retry-on-signal', 'NOPE'], /"NOPE" is not a signal/],
      [['--retry-backoff', 'soon'], /--retry-backoff "soon" is not INITIAL\[,MAX\]/],
      [['--on-disconnect', 'maybe'], /--on-disconnect "maybe" is not "keep" or a duration/],
    ] as const) {
      const result = await borg(['submit', ...flags, '--', 'true'], { env: env() });
      expect(result.code).toBe(2);
      expect(expectOneLineError(result.stderr)).toMatch(message);
    }
  });
});
