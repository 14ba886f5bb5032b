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
  onFollowInterrupt(out, cancel, {
    what: `job ${job.id}`,
    howToStop: () => `\`borg jobs cancel ${job.id}\` stops it`,
    cancel: () => cancelJob(client, job.id),
  });
}

/** What Ctrl-C stops following, and how it is cancelled (resolving to the line to print). */
export interface FollowedWork {
  /** "job 0b6f…", "pipeline 5e1a…" */
  what: string;
  /** What the person can run to stop it later, as things are at Ctrl-C: "`borg jobs cancel 0b6f…` stops it". */
  howToStop: () => string;
  cancel: () => Promise<string>;
}

/** The Ctrl-C rule of every `--follow` (see handleFollowInterrupt), for any work followed. */
export function onFollowInterrupt(out: Output, cancel: boolean, work: FollowedWork): void {
  process.once('SIGINT', () => {
    if (!cancel) {
      out.note(
        `\nborg: stopped following; ${work.what} keeps running: ${work.howToStop()} (--cancel-on-interrupt cancels it on Ctrl-C)`,
      );
      process.exit(ExitCode.INTERRUPTED);
    }
    process.once('SIGINT', () => process.exit(ExitCode.INTERRUPTED));
    out.note(`\nborg: cancelling ${work.what} (Ctrl-C again to leave it)`);
    void withDeadline(work.cancel(), `the mothership did not answer; ${work.what} may still run`).then((line) => {
      out.note(line);
      process.exit(ExitCode.INTERRUPTED);
    });
  });
}

/** The line `cancel` settles with, or `borg: <late>` when the mothership takes longer than CANCEL_TIMEOUT_MS. */
function withDeadline(cancel: Promise<string>, late: string): Promise<string> {
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve(`borg: ${late}`), CANCEL_TIMEOUT_MS));
  return Promise.race([cancel, timeout]);
}

function cancelJob(client: BorgClient, id: string): Promise<string> {
  return client.cancelJob(id).then(
    (job) => `borg: job ${job.id} ${job.status === 'cancelled' ? 'cancelled' : 'is stopping'}`,
    (error: unknown) => `borg: could not cancel job ${id} (${(error as Error).message})`,
  );
}
