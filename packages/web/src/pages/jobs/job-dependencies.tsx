import type { Job, JobDependency } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { CONDITION_WORDS, DependencyGraph } from './dependency-graph.tsx';

/** A dependency's state as a small pill (its own colours: these are not job statuses). */
const STATE_COLOURS: Record<JobDependency['state'], string> = {
  waiting: 'bg-violet-100 text-violet-800',
  met: 'bg-green-100 text-green-800',
  unmet: 'bg-red-100 text-red-800',
};

/**
 * The job's place among jobs that depend on each other: the jobs it waits for, each with what it
 * needs of it and whether that is met yet, and the graph of its upstream and downstream jobs
 * (GET /jobs/:id/graph). Nothing for a job with neither.
 */
export function JobDependencies({ job }: { job: Job }) {
  const graph = useQuery({ queryKey: queryKeys.jobGraph(job.id), queryFn: () => api().getJobGraph(job.id) });
  const connected = (graph.data?.nodes.length ?? 0) > 1;
  if (job.depends_on.length === 0 && !connected && !graph.error) return null;
  return (
    <section aria-labelledby="dependencies-title" className="space-y-2">
      <h2 id="dependencies-title" className="font-semibold">
        Dependencies
      </h2>
      {job.depends_on.length > 0 && <WaitsFor job={job} />}
      {graph.error && (
        <p role="alert" className="text-sm text-red-800">
          The dependency graph could not be loaded: {errorMessage(graph.error)}
        </p>
      )}
      {graph.data && connected && <DependencyGraph graph={graph.data} current={job.id} />}
      {graph.data?.truncated && (
        <p className="text-xs text-slate-500">
          Only the {graph.data.nodes.length} jobs nearest to this one are drawn; there are more.
        </p>
      )}
    </section>
  );
}

function WaitsFor({ job }: { job: Job }) {
  return (
    <ul aria-label="Waits for" className="space-y-1 text-sm">
      {job.depends_on.map((d) => {
        const input = job.inputs_from.find((i) => i.job_id === d.job_id);
        return (
          <li key={d.job_id} data-testid="dependency" className="flex flex-wrap items-baseline gap-x-2">
            <span>
              Waits for <Link to={`/jobs/${d.job_id}`}>{d.name}</Link> {CONDITION_WORDS[d.condition]}
            </span>
            <span
              data-testid="dependency-state"
              data-state={d.state}
              className={`rounded px-2 py-0.5 text-xs font-medium ${STATE_COLOURS[d.state]}`}
            >
              {d.state}
            </span>
            {input && (
              <span className="text-slate-600">
                and takes its artifacts <code className="font-mono text-xs">{input.artifacts}</code>
                {input.path ? (
                  <>
                    {' '}
                    into <code className="font-mono text-xs">{input.path}/</code>
                  </>
                ) : null}
                {input.element === 'same' ? ', element by element' : ''}
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}

/**
 * What a skipped job's page opens on, as a failed job's opens on its failure: that it never ran,
 * why (the mothership's skip reason, naming the upstream job and how it ended), and where to go
 * to run it after all (retrying that upstream job blocks this one again).
 */
export function SkipBanner({ job }: { job: Job }) {
  const unmet = job.depends_on.filter((d) => d.state === 'unmet');
  return (
    <section
      aria-labelledby="skip-title"
      data-testid="skip-banner"
      className="space-y-1 rounded border border-amber-300 bg-amber-50 p-3 text-amber-900"
    >
      <h2 id="skip-title" className="font-semibold">
        Skipped: this job did not run
      </h2>
      <p data-testid="skip-reason" className="break-words">
        {job.skip_reason ?? 'A job it depends on did not end as it needed.'}
      </p>
      {unmet.length > 0 && (
        <p className="text-sm">
          To run it, retry{' '}
          {unmet.map((d, i) => (
            <span key={d.job_id}>
              {i > 0 && ', '}
              <Link to={`/jobs/${d.job_id}`}>{d.name}</Link>
            </span>
          ))}
          : this job then waits for it again.
        </p>
      )}
    </section>
  );
}

const UNMET_WORDS: Record<JobDependency['condition'], string> = {
  succeeded: 'succeed',
  failed: 'fail',
  finished: 'finish',
};

/** The jobs list's reason for a blocked job (what it still waits for) or a skipped one (why). */
export function DependencyReason({ job }: { job: Job }) {
  if (job.status === 'skipped') {
    const unmet = job.depends_on.filter((d) => d.state === 'unmet');
    const words = unmet.map((d) => `${d.name} did not ${UNMET_WORDS[d.condition]}`).join(', ');
    return <span title={job.skip_reason ?? undefined}>{words || 'a dependency was not met'}</span>;
  }
  if (job.status !== 'blocked') return null;
  const waiting = job.depends_on.filter((d) => d.state === 'waiting').map((d) => d.name);
  return <span>waits for {waiting.join(', ') || 'its dependencies'}</span>;
}
