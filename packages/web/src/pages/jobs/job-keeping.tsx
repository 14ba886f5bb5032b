import type { Job, JobWithTasks } from '@borg/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';

import { PermittedButton } from '../../components/permitted-button.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { mayChangeJobThrough } from './job-permissions.ts';

/** What keeps a job, in words: pinned, its own retention, keep_last, or the server's default. */
export function keepingText(job: Pick<Job, 'pinned' | 'retention' | 'keep_last'>): string {
  if (job.pinned) return 'Pinned: kept until unpinned';
  const parts = [
    job.retention ? `Kept for ${job.retention} after it ends` : "Kept for the server's retention after it ends",
  ];
  if (job.keep_last !== null) parts.push(`or while among the newest ${job.keep_last} of its name`);
  return parts.join(', ');
}

/** How long the job is kept, and a Pin / Unpin button (PATCH /jobs/:id). */
export function JobKeeping({ job, buttonClass }: { job: Job; buttonClass: string }) {
  const identity = useIdentity();
  const queries = useQueryClient();
  const pin = useMutation({
    mutationFn: (pinned: boolean) => api().updateJob(job.id, { pinned }),
    onSuccess: (updated) =>
      queries.setQueryData<JobWithTasks>(queryKeys.job(job.id), (old) => (old ? { ...old, ...updated } : old)),
  });
  return (
    <div className="flex flex-wrap items-center gap-2 text-sm text-slate-600">
      <span data-testid="job-keeping">{keepingText(job)}</span>
      <PermittedButton
        permission={mayChangeJobThrough(identity, 'updateJob', job)}
        className={buttonClass}
        disabled={pin.isPending}
        onClick={() => pin.mutate(!job.pinned)}
      >
        {job.pinned ? 'Unpin' : 'Pin'}
      </PermittedButton>
      {pin.error && (
        <span role="alert" className="text-red-800">
          {errorMessage(pin.error)}
        </span>
      )}
    </div>
  );
}
