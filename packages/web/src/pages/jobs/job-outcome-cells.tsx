import type { Job } from '@borg/protocol';

import { Link } from '../../components/link.tsx';
import { failureWords } from './failure-banner.tsx';

/**
 * The runners that ran a job's latest attempts, each linked to its page (a deleted runner only
 * named), and "+N" for those the job's outcome counts but does not name; "—" before any ran.
 */
export function RanOn({ job }: { job: Job }) {
  const { runners, runner_count } = job.outcome;
  if (runners.length === 0) return <>—</>;
  const more = runner_count - runners.length;
  return (
    <>
      {runners.map((runner, i) => (
        <span key={runner.id}>
          {i > 0 && ', '}
          {runner.deleted ? (
            <span title="deleted runner">{runner.name}</span>
          ) : (
            <Link to={`/runners/${runner.id}`}>{runner.name}</Link>
          )}
        </span>
      ))}
      {more > 0 && <span title={`${runner_count} runners in all`}> +{more}</span>}
    </>
  );
}

/** A failed job's first failing element in words: "exited with 3", "#4 timed out"; nothing otherwise. */
export function JobFailureNote({ job }: { job: Job }) {
  const failure = job.outcome.failure;
  if (job.status !== 'failed' || !failure) return null;
  const element = job.array_size > 1 ? `#${failure.index} ` : '';
  const words = `${element}${failureWords(failure)}`;
  return (
    <span
      data-testid="job-failure"
      title={failure.error ?? words}
      className="block max-w-56 truncate text-xs text-red-700"
    >
      {words}
    </span>
  );
}
