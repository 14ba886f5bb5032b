import { between } from '../lib/format.ts';
import { useNow } from '../lib/use-now.ts';

/** How long something took, or has been taking: counts up each second while `to` is missing. */
export function Elapsed({ from, to }: { from: string | null; to: string | null }) {
  return to || !from ? <>{between(from, to)}</> : <Ticking from={from} />;
}

function Ticking({ from }: { from: string }) {
  return <>{between(from, null, useNow())}</>;
}
