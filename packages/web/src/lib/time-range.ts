/**
 * A time filter kept in the URL: `since` (a preset: 1h, 24h, 7d) or `from` and `to`
 * (datetime-local values, the browser's local time), read into ISO instants for the API.
 */

/** The presets, in seconds back from now. */
export const SINCE_PRESETS: Record<string, number> = { '1h': 3600, '24h': 86_400, '7d': 7 * 86_400 };

/** A datetime-local value (local time, no zone) as an ISO instant; undefined when blank or invalid. */
export function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** The URL's time filter as instants; a preset is fixed against `now`, the time the filter was set. */
export function timeRangeFromSearch(search: URLSearchParams, now: number): { after?: string; before?: string } {
  const preset = SINCE_PRESETS[search.get('since') ?? ''];
  if (preset) return { after: new Date(now - preset * 1000).toISOString(), before: undefined };
  return { after: localToIso(search.get('from') ?? ''), before: localToIso(search.get('to') ?? '') };
}

/** Which choice of the time select the URL holds: a preset, 'custom' (between two times) or '' (any time). */
export function timeChoice(search: URLSearchParams): string {
  return search.get('since') ?? (search.get('from') || search.get('to') ? 'custom' : '');
}
