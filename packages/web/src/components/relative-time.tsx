import { formatTime, relativeTime } from '../lib/format.ts';
import { useNow } from '../lib/use-now.ts';

/**
 * "3 min ago", kept current by the page's one clock, with the exact time in the viewer's locale
 * on hover (title) and for machines (dateTime). A missing time is a dash.
 */
export function RelativeTime({ at }: { at: string | null | undefined }) {
  const now = useNow();
  if (!at) return <>—</>;
  const exact = formatTime(at);
  return (
    <time dateTime={at} title={exact} aria-label={`${relativeTime(at, now)} (${exact})`}>
      {relativeTime(at, now)}
    </time>
  );
}
