import { AUDIT_ACTIONS, type AuditAction, ListAuditQuery } from '@borg/protocol';

import type { AuditFilters } from '../../lib/query-keys.ts';
import { timeRangeFromSearch } from '../../lib/time-range.ts';

/** The filters a person typed that the API would refuse: shown as not applied instead of failing the list. */
export type IgnoredFilter = 'actor' | 'object';

function isAuditAction(value: string): value is AuditAction {
  return (AUDIT_ACTIONS as readonly string[]).includes(value);
}

/**
 * The URL's audit filters (`action`, `actor`, `object`, and the time range of lib/time-range.ts)
 * as the API's query. A typed value the protocol's query schema refuses (an actor that is not a
 * token id) is left out and named in `ignored`; a time preset is fixed against `now`.
 */
export function auditFiltersFromSearch(
  search: URLSearchParams,
  now: number,
): { filters: AuditFilters; ignored: IgnoredFilter[] } {
  const ignored: IgnoredFilter[] = [];
  const typed = (name: IgnoredFilter) => {
    const value = search.get(name)?.trim() ?? '';
    if (!value) return undefined;
    if (ListAuditQuery.shape[name].safeParse(value).success) return value;
    ignored.push(name);
    return undefined;
  };
  const action = search.get('action') ?? '';
  const range = timeRangeFromSearch(search, now);
  return {
    filters: {
      action: isAuditAction(action) ? action : undefined,
      actor: typed('actor'),
      object: typed('object'),
      after: range.after,
      before: range.before,
    },
    ignored,
  };
}
