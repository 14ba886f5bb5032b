import type { Job } from '@borg/protocol';

import { CopyButton } from '../../components/copy-button.tsx';
import { Link } from '../../components/link.tsx';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { cliCommandOf, leftOutOfCli } from './cli-command.ts';

/**
 * "Run again" (the new-job form filled with this job's spec; only for a token that may submit)
 * and "Copy as CLI command" (the `borg submit` line that submits it again; for everyone).
 */
export function RunAgainActions({ job, className }: { job: Job; className: string }) {
  const submit = mayCall(useIdentity(), 'createJob');
  const left = leftOutOfCli(job);
  return (
    <>
      {submit.allowed && (
        <Link to={`/jobs/new?from=${encodeURIComponent(job.id)}`} className={className}>
          Run again
        </Link>
      )}
      <CopyButton
        label="Copy as CLI command"
        text={() => cliCommandOf(job)}
        note={left.length > 0 ? `It leaves out ${left.join(' and ')}.` : undefined}
        className={className}
      />
    </>
  );
}
