import { timeChoice } from '../lib/time-range.ts';

/**
 * The time select of a list's filters (any time, a preset, or between two times), kept in the
 * URL as `since`, `from` and `to` (lib/time-range.ts). `label` names the select; the two time
 * inputs are "<label> from" and "<label> before".
 */
export function TimeRangeFilter({
  label,
  search,
  setFilter,
  className,
}: {
  label: string;
  search: URLSearchParams;
  setFilter: (name: string, value: string, extra?: Record<string, string>) => void;
  className: string;
}) {
  const choice = timeChoice(search);
  return (
    <>
      <select
        aria-label={label}
        value={choice}
        onChange={(e) =>
          e.target.value === 'custom'
            ? setFilter('since', '', { from: new Date(Date.now() - 86_400_000).toISOString().slice(0, 16) })
            : setFilter('since', e.target.value, { from: '', to: '' })
        }
        className={className}
      >
        <option value="">any time</option>
        <option value="1h">last hour</option>
        <option value="24h">last 24 hours</option>
        <option value="7d">last 7 days</option>
        <option value="custom">between…</option>
      </select>
      {choice === 'custom' && (
        <>
          <input
            type="datetime-local"
            aria-label={`${label} from`}
            value={search.get('from') ?? ''}
            onChange={(e) => setFilter('from', e.target.value)}
            className={className}
          />
          <input
            type="datetime-local"
            aria-label={`${label} before`}
            value={search.get('to') ?? ''}
            onChange={(e) => setFilter('to', e.target.value)}
            className={className}
          />
        </>
      )}
    </>
  );
}
