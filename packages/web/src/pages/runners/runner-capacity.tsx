import type { Runner } from '@borg/protocol';

import { formatMegabytes } from '../../lib/format.ts';

type Capacity = NonNullable<Runner['capacity']>;

const round = (n: number) => String(Math.round(n * 100) / 100);

function Usage({
  label,
  used,
  total,
  format,
}: {
  label: string;
  used: number;
  total: number;
  format: (n: number) => string;
}) {
  return (
    <span className="flex flex-wrap items-center gap-2">
      <meter min={0} max={Math.max(total, 0.001)} value={used} aria-label={`${label} in use`} className="w-28" />
      <span>
        {format(used)} of {format(total)} in use
      </span>
    </span>
  );
}

/** What the runner offers to tasks that ask for resources, and how much its live tasks hold. */
export function CapacityUsage({ capacity }: { capacity: Capacity }) {
  return (
    <div data-testid="runner-capacity" className="space-y-1">
      <div>
        <span className="mr-2 text-slate-500">CPU</span>
        <Usage label="CPU" used={capacity.cpu_used} total={capacity.cpu} format={round} />
      </div>
      <div>
        <span className="mr-2 text-slate-500">Memory</span>
        <Usage label="Memory" used={capacity.memory_used_mb} total={capacity.memory_mb} format={formatMegabytes} />
      </div>
    </div>
  );
}
