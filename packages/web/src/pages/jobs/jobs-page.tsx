import { type Job, JOB_STATUSES, type JobPage } from '@borg/protocol';
import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';

import { Elapsed } from '../../components/elapsed.tsx';
import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { TimeRangeFilter } from '../../components/time-range-filter.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { useTopic } from '../../lib/live.ts';
import { isReadOnly, mayCall } from '../../lib/permissions.ts';
import { type JobListFilters, queryKeys } from '../../lib/query-keys.ts';
import { navigate, useLocation } from '../../lib/router.ts';
import { timeRangeFromSearch } from '../../lib/time-range.ts';
import { searchWith } from '../../lib/url-search.ts';
import { TYPING_PAUSE_MS, useDebouncedCallback } from '../../lib/use-debounced-callback.ts';
import { confirmAction, describeBulk, JOB_ACTIONS, type JobAction, runBulk } from './bulk-actions.ts';
import { DependencyReason } from './job-dependencies.tsx';
import { JobFailureNote, RanOn } from './job-outcome-cells.tsx';
import { mayChangeJobAtAll } from './job-permissions.ts';
import { PendingReason } from './pending-reason.tsx';

/** The URL's filters as the API's query; presets are fixed to instants when the filter changes. */
export function filtersFromSearch(search: URLSearchParams, now: number): JobListFilters {
  const label = search.get('label') ?? '';
  const created = timeRangeFromSearch(search, now);
  return {
    status: search.get('status') || undefined,
    q: search.get('q') || undefined,
    label: label.includes('=') ? label : undefined,
    created_after: created.after,
    created_before: created.before,
  };
}

const input = 'rounded border border-slate-300 bg-white px-2 py-1';
const newJob = 'order-last rounded px-3 py-1.5 text-white sm:order-none sm:ml-auto';

/** Jobs, newest first, paged by the server's cursor; filters live in the URL; rows update live. */
export function JobsPage() {
  const { search } = useLocation();
  const queries = useQueryClient();
  const identity = useIdentity();
  const readOnly = isReadOnly(identity);
  const submit = mayCall(identity, 'createJob');
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
    setFiltersSetAt(Date.now());
    // Typing replaces the history entry; choosing from a list adds one, so back undoes it.
    navigate(`/jobs${searchWith(search, { [name]: value, ...extra })}`, { replace: name === 'q' || name === 'label' });
    setSelected(new Set());
  };

  // One debounce per field: a pause in one must not drop what was typed in the other.
  const setTypedName = useDebouncedCallback((value: string) => setFilter('q', value), TYPING_PAUSE_MS);
  const setTypedLabel = useDebouncedCallback((value: string) => setFilter('label', value), TYPING_PAUSE_MS);

  const items = jobs.data?.pages.flatMap((p) => p.items) ?? [];
  // A token offered no actions gets no selection either; others select only the jobs they may change.
  const selectable = readOnly ? [] : items.filter((j) => mayChangeJobAtAll(identity, j).allowed);
  const allSelected = selectable.length > 0 && selectable.every((j) => selected.has(j.id));
  const toggle = (id: string) =>
    setSelected((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const bulk = async (action: JobAction) => {
    if (!confirmAction(action, selected.size)) return;
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
        {submit.allowed ? (
          <Link to="/jobs/new" className={`${newJob} bg-blue-700`}>
            New job
          </Link>
        ) : (
          !readOnly && (
            <span aria-disabled="true" title={submit.reason} className={`${newJob} cursor-not-allowed bg-slate-400`}>
              New job
            </span>
          )
        )}
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
        <input
          aria-label="Label"
          placeholder="label key=value"
          defaultValue={search.get('label') ?? ''}
          onChange={(e) => setTypedLabel(e.target.value.trim())}
          className={`${input} font-mono`}
        />
        <TimeRangeFilter label="Created" search={search} setFilter={setFilter} className={input} />
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
                {!readOnly && (
                  <th className="w-8 p-2">
                    <input
                      type="checkbox"
                      aria-label="Select all shown jobs"
                      title={selectable.length < items.length ? 'Selects the jobs this token may change' : undefined}
                      disabled={selectable.length === 0}
                      checked={allSelected}
                      onChange={() => setSelected(allSelected ? new Set() : new Set(selectable.map((j) => j.id)))}
                    />
                  </th>
                )}
                <th className="p-2">Name</th>
                <th className="p-2">Status</th>
                <th className="hidden p-2 sm:table-cell">Reason</th>
                <th className="hidden p-2 sm:table-cell">Type</th>
                <th className="hidden p-2 sm:table-cell">Tasks</th>
                <th className="hidden p-2 md:table-cell">Labels</th>
                <th className="hidden p-2 md:table-cell">Submitted by</th>
                <th className="hidden p-2 md:table-cell">Ran on</th>
                <th className="hidden p-2 sm:table-cell">Created</th>
                <th className="hidden p-2 sm:table-cell">Duration</th>
              </tr>
            </thead>
            <tbody>
              {items.map((job) => (
                <tr
                  key={job.id}
                  data-testid="job-row"
                  className={`border-b border-slate-100 last:border-0 ${selected.has(job.id) ? 'bg-blue-50' : ''}`}
                >
                  {!readOnly && (
                    <td className="p-2">
                      <SelectJob job={job} selected={selected.has(job.id)} toggle={toggle} />
                    </td>
                  )}
                  {/* Narrower on a phone, so the status beside it stays in view. */}
                  <td className="max-w-40 truncate p-2 sm:max-w-xs" title={job.name}>
                    <Link to={`/jobs/${job.id}`}>{job.name}</Link>
                  </td>
                  <td className="p-2">
                    <StatusBadge status={job.status} />
                    <JobFailureNote job={job} />
                  </td>
                  <td className="hidden max-w-56 p-2 text-xs text-slate-600 sm:table-cell">
                    {job.status === 'queued' && <PendingReason job={job} />}
                    <DependencyReason job={job} />
                  </td>
                  <td className="hidden p-2 sm:table-cell">{job.type}</td>
                  <td className="hidden p-2 sm:table-cell">{job.array_size}</td>
                  <td className="hidden max-w-48 truncate p-2 font-mono text-xs md:table-cell">
                    {Object.entries(job.labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')}
                  </td>
                  <td className="hidden max-w-40 truncate p-2 md:table-cell" data-testid="submitted-by">
                    {job.created_by?.name ?? '—'}
                  </td>
                  <td className="hidden max-w-48 truncate p-2 md:table-cell" data-testid="ran-on">
                    <RanOn job={job} />
                  </td>
                  <td className="hidden p-2 whitespace-nowrap sm:table-cell">
                    <RelativeTime at={job.created_at} />
                  </td>
                  <td className="hidden p-2 whitespace-nowrap sm:table-cell" data-testid="job-duration">
                    <Elapsed from={job.started_at} to={job.completed_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {items.length === 0 && (
            <Empty>
              {search.size > 0
                ? 'No job matches these filters.'
                : `No jobs yet.${submit.allowed ? ' Submit one with “New job”.' : ''}`}
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

/** A row's checkbox; a job the token may not change cannot be selected, and its tooltip says why. */
function SelectJob({ job, selected, toggle }: { job: Job; selected: boolean; toggle: (id: string) => void }) {
  const permission = mayChangeJobAtAll(useIdentity(), job);
  return (
    <input
      type="checkbox"
      aria-label={`Select ${job.name}`}
      title={permission.allowed ? undefined : permission.reason}
      disabled={!permission.allowed}
      checked={selected}
      onChange={() => toggle(job.id)}
    />
  );
}
