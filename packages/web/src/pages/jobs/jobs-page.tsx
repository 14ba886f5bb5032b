import { JOB_STATUSES, type JobPage } from '@borg/protocol';
import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';

import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { api } from '../../lib/api.ts';
import { formatTime } from '../../lib/format.ts';
import { useTopic } from '../../lib/live.ts';
import { type JobListFilters, queryKeys } from '../../lib/query-keys.ts';
import { navigate, useLocation } from '../../lib/router.ts';
import { useDebouncedCallback } from '../../lib/use-debounced-callback.ts';
import { describeBulk, JOB_ACTIONS, type JobAction, runBulk } from './bulk-actions.ts';

/** The time filter's presets, in seconds back from now. */
const SINCE: Record<string, number> = { '1h': 3600, '24h': 86_400, '7d': 7 * 86_400 };

/** A datetime-local value (local time, no zone) as an ISO instant; undefined when blank or invalid. */
function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** The URL's filters as the API's query; presets are fixed to instants when the filter changes. */
export function filtersFromSearch(search: URLSearchParams, now: number): JobListFilters {
  const since = search.get('since') ?? '';
  const label = search.get('label') ?? '';
  return {
    status: search.get('status') || undefined,
    q: search.get('q') || undefined,
    label: label.includes('=') ? label : undefined,
    created_after: SINCE[since]
      ? new Date(now - SINCE[since] * 1000).toISOString()
      : localToIso(search.get('from') ?? ''),
    created_before: SINCE[since] ? undefined : localToIso(search.get('to') ?? ''),
  };
}

const input = 'rounded border border-slate-300 bg-white px-2 py-1';

/** How long typing in a text filter must pause before the list is fetched for it. */
export const TYPING_PAUSE_MS = 300;

/** Jobs, newest first, paged by the server's cursor; filters live in the URL; rows update live. */
export function JobsPage() {
  const { search } = useLocation();
  const queries = useQueryClient();
  useTopic('jobs');
  const key = search.toString();
  // Presets resolve against the time the filters were last set here, not the time of each
  // render, so the query key stays put between renders.
  const [filtersSetAt, setFiltersSetAt] = useState(() => Date.now());
  const filters = useMemo(() => filtersFromSearch(new URLSearchParams(key), filtersSetAt), [key, filtersSetAt]);
  const jobs = useInfiniteQuery({
    queryKey: queryKeys.jobList(filters),
    queryFn: ({ pageParam }) => api().listJobs({ limit: 50, cursor: pageParam, ...filters }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: JobPage) => last.next_cursor ?? undefined,
  });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkBusy, setBulkBusy] = useState(false);
  const [bulkMessage, setBulkMessage] = useState<string | null>(null);

  const setFilter = (name: string, value: string, extra: Record<string, string> = {}) => {
    const next = new URLSearchParams(search);
    for (const [k, v] of Object.entries({ [name]: value, ...extra })) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    const query = next.toString();
    setFiltersSetAt(Date.now());
    // Typing replaces the history entry; choosing from a list adds one, so back undoes it.
    navigate(`/jobs${query ? `?${query}` : ''}`, { replace: name === 'q' || name === 'label' });
    setSelected(new Set());
  };

  // One debounce per field: a pause in one must not drop what was typed in the other.
  const setTypedName = useDebouncedCallback((value: string) => setFilter('q', value), TYPING_PAUSE_MS);
  const setTypedLabel = useDebouncedCallback((value: string) => setFilter('label', value), TYPING_PAUSE_MS);

  const items = jobs.data?.pages.flatMap((p) => p.items) ?? [];
  const since = search.get('since') ?? (search.get('from') || search.get('to') ? 'custom' : '');
  const allSelected = items.length > 0 && items.every((j) => selected.has(j.id));
  const toggle = (id: string) =>
    setSelected((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const bulk = async (action: JobAction) => {
    setBulkBusy(true);
    setBulkMessage(null);
    const result = await runBulk(action, [...selected]);
    setBulkBusy(false);
    setBulkMessage(describeBulk(action, result));
    setSelected(new Set(result.refused.map((r) => r.id)));
    void queries.invalidateQueries({ queryKey: queryKeys.jobLists() });
  };

  return (
    <section>
      <div className="mb-4 flex flex-wrap items-center gap-2">
        <h1 className="mr-2 text-xl font-semibold">Jobs</h1>
        <Link to="/jobs/new" className="order-last rounded bg-blue-700 px-3 py-1.5 text-white sm:order-none sm:ml-auto">
          New job
        </Link>
      </div>
      <form
        role="search"
        className="mb-3 grid grid-cols-2 gap-2 sm:flex sm:flex-wrap"
        onSubmit={(e) => e.preventDefault()}
      >
        <input
          type="search"
          aria-label="Search names"
          placeholder="Search names…"
          defaultValue={search.get('q') ?? ''}
          onChange={(e) => setTypedName(e.target.value.trim())}
          className={`${input} col-span-2 sm:w-56`}
        />
        <select
          aria-label="Status"
          value={search.get('status') ?? ''}
          onChange={(e) => setFilter('status', e.target.value)}
          className={input}
        >
          <option value="">any status</option>
          {JOB_STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select
          aria-label="Created"
          value={since}
          onChange={(e) =>
            e.target.value === 'custom'
              ? setFilter('since', '', { from: new Date(Date.now() - 86_400_000).toISOString().slice(0, 16) })
              : setFilter('since', e.target.value, { from: '', to: '' })
          }
          className={input}
        >
          <option value="">any time</option>
          <option value="1h">last hour</option>
          <option value="24h">last 24 hours</option>
          <option value="7d">last 7 days</option>
          <option value="custom">between…</option>
        </select>
        <input
          aria-label="Label"
          placeholder="label key=value"
          defaultValue={search.get('label') ?? ''}
          onChange={(e) => setTypedLabel(e.target.value.trim())}
          className={`${input} font-mono`}
        />
        {since === 'custom' && (
          <>
            <input
              type="datetime-local"
              aria-label="Created from"
              value={search.get('from') ?? ''}
              onChange={(e) => setFilter('from', e.target.value)}
              className={input}
            />
            <input
              type="datetime-local"
              aria-label="Created before"
              value={search.get('to') ?? ''}
              onChange={(e) => setFilter('to', e.target.value)}
              className={input}
            />
          </>
        )}
      </form>
      {search.get('label') && !filters.label && (
        <p className="mb-2 text-sm text-amber-700">A label filter is key=value; this one is not applied yet.</p>
      )}

      {selected.size > 0 && (
        <div
          role="toolbar"
          aria-label="Selected jobs"
          className="sticky top-0 z-10 mb-2 flex flex-wrap items-center gap-2 rounded bg-slate-800 px-3 py-2 text-sm text-white"
        >
          <span className="mr-2">{selected.size} selected</span>
          {JOB_ACTIONS.map((action) => (
            <button
              key={action}
              type="button"
              disabled={bulkBusy}
              onClick={() => void bulk(action)}
              className="rounded bg-slate-600 px-3 py-1 capitalize hover:bg-slate-500 disabled:opacity-50"
            >
              {action}
            </button>
          ))}
          <button type="button" onClick={() => setSelected(new Set())} className="ml-auto underline">
            Clear
          </button>
        </div>
      )}
      {bulkMessage && (
        <p role="status" className="mb-2 rounded bg-slate-100 px-3 py-2 text-sm">
          {bulkMessage}
        </p>
      )}

      {jobs.error && <ErrorState error={jobs.error} retry={() => void jobs.refetch()} />}
      {jobs.isLoading && <Loading what="Loading jobs" />}
      {jobs.data && (
        <div className="overflow-x-auto rounded bg-white shadow">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 text-slate-500">
              <tr>
                <th className="w-8 p-2">
                  <input
                    type="checkbox"
                    aria-label="Select all shown jobs"
                    checked={allSelected}
                    onChange={() => setSelected(allSelected ? new Set() : new Set(items.map((j) => j.id)))}
                  />
                </th>
                <th className="p-2">Name</th>
                <th className="p-2">Status</th>
                <th className="hidden p-2 sm:table-cell">Type</th>
                <th className="hidden p-2 sm:table-cell">Tasks</th>
                <th className="hidden p-2 md:table-cell">Labels</th>
                <th className="hidden p-2 sm:table-cell">Created</th>
              </tr>
            </thead>
            <tbody>
              {items.map((job) => (
                <tr
                  key={job.id}
                  data-testid="job-row"
                  className={`border-b border-slate-100 last:border-0 ${selected.has(job.id) ? 'bg-blue-50' : ''}`}
                >
                  <td className="p-2">
                    <input
                      type="checkbox"
                      aria-label={`Select ${job.name}`}
                      checked={selected.has(job.id)}
                      onChange={() => toggle(job.id)}
                    />
                  </td>
                  <td className="max-w-xs truncate p-2">
                    <Link to={`/jobs/${job.id}`}>{job.name}</Link>
                  </td>
                  <td className="p-2">
                    <StatusBadge status={job.status} />
                  </td>
                  <td className="hidden p-2 sm:table-cell">{job.type}</td>
                  <td className="hidden p-2 sm:table-cell">{job.array_size}</td>
                  <td className="hidden max-w-48 truncate p-2 font-mono text-xs md:table-cell">
                    {Object.entries(job.labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')}
                  </td>
                  <td className="hidden p-2 whitespace-nowrap sm:table-cell">{formatTime(job.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {items.length === 0 && (
            <Empty>
              {search.size > 0 ? 'No job matches these filters.' : 'No jobs yet. Submit one with “New job”.'}
            </Empty>
          )}
        </div>
      )}
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
