import { type Job, MAX_ARRAY_SIZE } from '@borg/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';

import { PermittedButton } from '../../components/permitted-button.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { offerOf } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { mayChangeJobThrough } from './job-permissions.ts';

/**
 * How many of an array job's elements may be held at once, and a form that changes it (PATCH;
 * the next claim reads it). A token that may not change the job sees the value only.
 */
export function MaxParallelControl({ job }: { job: Pick<Job, 'id' | 'max_parallel' | 'created_by' | 'completed_at'> }) {
  const queries = useQueryClient();
  const identity = useIdentity();
  const inputId = useId();
  const [text, setText] = useState('');
  const permission = mayChangeJobThrough(identity, 'updateJob', job);
  const change = useMutation({
    mutationFn: (maxParallel: number | null) => api().updateJob(job.id, { max_parallel: maxParallel }),
    onSuccess: (updated) => {
      queries.setQueryData<Job>(queryKeys.job(job.id), (old) => (old ? { ...old, ...updated } : old));
      setText('');
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate(Number(text));
  };
  const valid = /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_ARRAY_SIZE;
  const button =
    'rounded border border-slate-300 bg-white px-2 py-0.5 text-sm hover:bg-slate-100 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600';
  return (
    <form
      onSubmit={submit}
      aria-label="Max parallel"
      className="flex flex-wrap items-center gap-2 text-sm"
      data-testid="max-parallel"
    >
      <span>
        Max parallel: <strong data-testid="max-parallel-value">{job.max_parallel ?? 'no limit'}</strong>
      </span>
      {offerOf(identity, permission) !== 'hidden' && job.completed_at === null && (
        <>
          <label htmlFor={inputId} className="sr-only">
            New max parallel
          </label>
          <input
            id={inputId}
            type="number"
            min={1}
            max={MAX_ARRAY_SIZE}
            inputMode="numeric"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="e.g. 20"
            disabled={!permission.allowed}
            className="w-24 rounded border border-slate-300 px-2 py-0.5"
          />
          <PermittedButton
            permission={permission}
            type="submit"
            className={button}
            disabled={!valid || change.isPending}
            title="Applies from the next claim; raising it starts more elements at once"
          >
            Set
          </PermittedButton>
          {job.max_parallel !== null && (
            <PermittedButton
              permission={permission}
              className={button}
              disabled={change.isPending}
              onClick={() => change.mutate(null)}
            >
              No limit
            </PermittedButton>
          )}
        </>
      )}
      {change.error && (
        <span role="alert" className="text-red-700">
          {errorMessage(change.error)}
        </span>
      )}
    </form>
  );
}
