import { AUDIT_ACTIONS, type AuditPage as AuditPageData } from '@borg/protocol';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';

import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { TimeRangeFilter } from '../../components/time-range-filter.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate, useLocation } from '../../lib/router.ts';
import { searchWith } from '../../lib/url-search.ts';
import { TYPING_PAUSE_MS, useDebouncedCallback } from '../../lib/use-debounced-callback.ts';
import { auditFiltersFromSearch, type IgnoredFilter } from './audit-filters.ts';
import { AuditTable } from './audit-table.tsx';

/** Entries asked for in one request ("Load more" asks for the next). */
export const AUDIT_PAGE_SIZE = 50;

const input = 'rounded border border-slate-300 bg-white px-2 py-1';

const IGNORED_WORDS: Record<IgnoredFilter, string> = {
  actor: 'The actor filter takes a token id (as `borg tokens list` shows it); this one is not applied.',
  object: 'The object filter takes an id of at most 64 characters; this one is not applied.',
};

/** `/audit`, for admins: who did what to which object, newest first, filtered in the URL. */
export function AuditPage() {
  const allowed = mayCall(useIdentity(), 'listAudit');
  if (!allowed.allowed) {
    return (
      <section>
        <h1 className="mb-4 text-xl font-semibold">Audit log</h1>
        <p role="status" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          This token cannot read the audit log. {allowed.reason}.
        </p>
      </section>
    );
  }
  return <AuditLog />;
}

function AuditLog() {
  const { search } = useLocation();
  const key = search.toString();
  // As on the jobs page: a time preset resolves when the filters are set, so the key stays put.
  const [filtersSetAt, setFiltersSetAt] = useState(() => Date.now());
  const { filters, ignored } = useMemo(
    () => auditFiltersFromSearch(new URLSearchParams(key), filtersSetAt),
    [key, filtersSetAt],
  );
  const audit = useInfiniteQuery({
    queryKey: queryKeys.auditList(filters),
    queryFn: ({ pageParam }) => api().listAudit({ limit: AUDIT_PAGE_SIZE, cursor: pageParam, ...filters }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: AuditPageData) => last.next_cursor ?? undefined,
  });

  const setFilter = (name: string, value: string, extra: Record<string, string> = {}) => {
    setFiltersSetAt(Date.now());
    // Typing replaces the history entry; choosing from a list adds one, so back undoes it.
    navigate(`/audit${searchWith(search, { [name]: value, ...extra })}`, {
      replace: name === 'actor' || name === 'object',
    });
  };
  const setTypedActor = useDebouncedCallback((value: string) => setFilter('actor', value), TYPING_PAUSE_MS);
  const setTypedObject = useDebouncedCallback((value: string) => setFilter('object', value), TYPING_PAUSE_MS);
  const events = audit.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">Audit log</h1>
      <form
        role="search"
        className="mb-3 grid grid-cols-2 gap-2 sm:flex sm:flex-wrap"
        onSubmit={(e) => e.preventDefault()}
      >
        <select
          aria-label="Action"
          value={search.get('action') ?? ''}
          onChange={(e) => setFilter('action', e.target.value)}
          className={input}
        >
          <option value="">any action</option>
          {AUDIT_ACTIONS.map((action) => (
            <option key={action}>{action}</option>
          ))}
        </select>
        <input
          aria-label="Actor token id"
          placeholder="actor token id"
          defaultValue={search.get('actor') ?? ''}
          onChange={(e) => setTypedActor(e.target.value.trim())}
          className={`${input} font-mono sm:w-80`}
        />
        <input
          aria-label="Object id"
          placeholder="object id (job, runner, file, token)"
          defaultValue={search.get('object') ?? ''}
          onChange={(e) => setTypedObject(e.target.value.trim())}
          className={`${input} font-mono sm:w-80`}
        />
        <TimeRangeFilter label="Time" search={search} setFilter={setFilter} className={input} />
      </form>
      {ignored.map((name) => (
        <p key={name} className="mb-2 text-sm text-amber-700">
          {IGNORED_WORDS[name]}
        </p>
      ))}

      {audit.error && <ErrorState error={audit.error} retry={() => void audit.refetch()} />}
      {audit.isLoading && <Loading what="Loading the audit log" />}
      {audit.data && (
        <div className="overflow-x-auto rounded bg-white shadow">
          <AuditTable events={events} />
          {events.length === 0 && (
            <Empty>{search.size > 0 ? 'No entry matches these filters.' : 'Nothing recorded yet.'}</Empty>
          )}
        </div>
      )}
      {audit.hasNextPage && (
        <button
          type="button"
          onClick={() => void audit.fetchNextPage()}
          className="mt-3 rounded border border-slate-300 bg-white px-3 py-1"
        >
          {audit.isFetchingNextPage ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
