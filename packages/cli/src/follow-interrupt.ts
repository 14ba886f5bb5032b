import type { BorgClient, Job } from '@borg/protocol';

import { ExitCode } from './cli-error.ts';
import type { Output } from './output.ts';

/** How long Ctrl-C waits for the mothership to take the cancel before exiting anyway. */
const CANCEL_TIMEOUT_MS = 10_000;

/**
 * Ctrl-C while `borg submit --follow` streams a job. By default it stops following and the job
 * keeps running (a CI step killed by its runner should not take the job with it); with
 * `--cancel-on-interrupt` the job is cancelled first, as Ctrl-C on `make test` stops the tests.
 * A second Ctrl-C exits at once. Either way the exit code is 130.
 */
export function handleFollowInterrupt(out: Output, client: BorgClient, job: Job, cancel: boolean): void {
  process.once('SIGINT', () => {
    if (!cancel) {
      out.note(
        `\nborg: stopped following; job ${job.id} keeps running: \`borg jobs cancel ${job.id}\` stops it` +
          ' (--cancel-on-interrupt cancels it on Ctrl-C)',
      );
      process.exit(ExitCode.INTERRUPTED);
    }
    process.once('SIGINT', () => process.exit(ExitCode.INTERRUPTED));
    out.note(`\nborg: cancelling job ${job.id} (Ctrl-C again to leave it)`);
    void cancelJob(client, job.id).then((line) => {
      out.note(line);
      process.exit(ExitCode.INTERRUPTED);
    });
  });
}

async function cancelJob(client: BorgClient, id: string): Promise<string> {
  const timeout = new Promise<string>((resolve) =>
    setTimeout(() => resolve(`borg: the mothership did not answer; job ${id} may still run`), CANCEL_TIMEOUT_MS),
  );
  const cancelled = client.cancelJob(id).then(
    (job) => `borg: job ${job.id} ${job.status === 'cancelled' ? 'cancelled' : 'is stopping'}`,
    (error: unknown) => `borg: could not cancel job ${id} (${(error as Error).message})`,
  );
  return Promise.race([cancelled, timeout]);
}
