import { useQueryClient } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate } from '../../lib/router.ts';
import { NewJobForm } from './new-job.tsx';

/** `/jobs/new`: the form, or why this token cannot submit (a bookmark can lead anyone here). */
export function NewJobPage() {
  const queries = useQueryClient();
  const submit = mayCall(useIdentity(), 'createJob');
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">New job</h1>
      {submit.allowed ? (
        <NewJobForm
          onSubmit={async (request) => {
            // Errors go back to the form, which puts the server's messages next to their fields.
            const job = await api().createJob(request);
            void queries.invalidateQueries({ queryKey: queryKeys.jobLists() });
            navigate(`/jobs/${job.id}`);
          }}
        />
      ) : (
        <p role="status" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          This token cannot submit jobs. {submit.reason}. Back to the <Link to="/jobs">jobs</Link>.
        </p>
      )}
    </section>
  );
}
