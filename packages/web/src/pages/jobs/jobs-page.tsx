import { JOB_STATUSES } from '@borg/protocol';
import { useInfiniteQuery } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { api } from '../../lib/api.ts';
import { useTopic } from '../../lib/live.ts';
import { navigate, useLocation } from '../../lib/router.ts';

export function timeAgo(iso: string | null): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString();
}

/** Jobs, newest first, paged by the server's cursor; filters live in the URL. */
export function JobsPage() {
  const { search } = useLocation();
  const status = search.get('status') ?? '';
  const name = search.get('name') ?? '';
  useTopic('jobs');
  const jobs = useInfiniteQuery({
    queryKey: ['jobs', { status, name }],
    queryFn: ({ pageParam }) =>
      api().listJobs({ limit: 50, cursor: pageParam, status: status || undefined, name: name || undefined }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    const query = next.toString();
    navigate(`/jobs${query ? `?${query}` : ''}`, { replace: key === 'name' });
  };

  const items = jobs.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section>
      <div className="mb-4 flex items-center gap-3">
        <h1 className="text-xl font-semibold">Jobs</h1>
        <select
          aria-label="Status"
          value={status}
          onChange={(e) => setFilter('status', e.target.value)}
          className="rounded border border-slate-300 px-2 py-1"
        >
          <option value="">any status</option>
          {JOB_STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <input
          aria-label="Name starts with"
          placeholder="name starts with…"
          defaultValue={name}
          onChange={(e) => setFilter('name', e.target.value)}
          className="rounded border border-slate-300 px-2 py-1"
        />
        <span className="ml-auto">
          <Link to="/jobs/new" className="rounded bg-blue-700 px-3 py-1.5 text-white">
            New job
          </Link>
        </span>
      </div>
      {jobs.error && <p role="alert">{String(jobs.error)}</p>}
      <table className="w-full rounded bg-white text-left text-sm shadow">
        <thead className="border-b text-slate-500">
          <tr>
            <th className="p-2">Name</th>
            <th className="p-2">Status</th>
            <th className="p-2">Type</th>
            <th className="p-2">Tasks</th>
            <th className="p-2">Created</th>
          </tr>
        </thead>
        <tbody>
          {items.map((job) => (
            <tr key={job.id} data-testid="job-row" className="border-b last:border-0">
              <td className="p-2">
                <Link to={`/jobs/${job.id}`}>{job.name}</Link>
              </td>
              <td className="p-2">
                <StatusBadge status={job.status} />
              </td>
              <td className="p-2">{job.type}</td>
              <td className="p-2">{job.array_size}</td>
              <td className="p-2">{timeAgo(job.created_at)}</td>
            </tr>
          ))}
          {items.length === 0 && !jobs.isLoading && (
            <tr>
              <td colSpan={5} className="p-4 text-center text-slate-500">
                No jobs yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {jobs.hasNextPage && (
        <button
          type="button"
          onClick={() => void jobs.fetchNextPage()}
          className="mt-3 rounded border border-slate-300 bg-white px-3 py-1"
        >
          {jobs.isFetchingNextPage ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
