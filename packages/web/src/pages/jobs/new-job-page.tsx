import type { CreateJobRequest } from '@borg/protocol';
import { useQuery, useQueryClient } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { ErrorState, Loading } from '../../components/page-states.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate, useLocation } from '../../lib/router.ts';
import { initialValuesOf, notCarriedOver } from './job-clone.ts';
import { NewJobForm } from './new-job.tsx';

/** The form filled with the spec of job `id` ("Run again"), saying what it could not carry over. */
function RunAgainForm({ id, onSubmit }: { id: string; onSubmit: (request: CreateJobRequest) => Promise<void> }) {
  const job = useQuery({ queryKey: queryKeys.job(id), queryFn: () => api().getJob(id) });
  if (job.error) return <ErrorState error={job.error} retry={() => void job.refetch()} />;
  if (!job.data) return <Loading what="Loading the job to run again" />;
  const left = notCarriedOver(job.data);
  return (
    <>
      <p className="mb-3 text-sm text-slate-600" role="status">
        Filled in from <Link to={`/jobs/${id}`}>{job.data.name}</Link>: change what you need and submit.
        {left.length > 0 && ` The form cannot set ${left.join(' or ')}: the new job runs without it.`}
      </p>
      <NewJobForm key={id} initial={initialValuesOf(job.data)} onSubmit={onSubmit} />
    </>
  );
}

/** `/jobs/new` (`?from=ID`: run that job again): the form, or why this token cannot submit. */
export function NewJobPage() {
  const queries = useQueryClient();
  const submit = mayCall(useIdentity(), 'createJob');
  const from = useLocation().search.get('from');
  const onSubmit = async (request: CreateJobRequest) => {
    // Errors go back to the form, which puts the server's messages next to their fields.
    const job = await api().createJob(request);
    void queries.invalidateQueries({ queryKey: queryKeys.jobLists() });
    navigate(`/jobs/${job.id}`);
  };
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">{from ? 'Run a job again' : 'New job'}</h1>
      {!submit.allowed ? (
        <p role="status" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          This token cannot submit jobs. {submit.reason}. Back to the <Link to="/jobs">jobs</Link>.
        </p>
      ) : from ? (
        <RunAgainForm id={from} onSubmit={onSubmit} />
      ) : (
        <NewJobForm onSubmit={onSubmit} />
      )}
    </section>
  );
}
