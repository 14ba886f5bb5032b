import type { Task } from '@borg/protocol';

/** The latest attempt of each element: what an array job's progress is made of. */
export function latestAttempts(tasks: readonly Task[]): Task[] {
  const latest = new Map<number, Task>();
  for (const task of tasks) {
    const held = latest.get(task.index);
    if (!held || task.attempt > held.attempt) latest.set(task.index, task);
  }
  return [...latest.values()].sort((a, b) => a.index - b.index);
}

const GROUPS = [
  { key: 'succeeded', label: 'succeeded', fill: '#16a34a', statuses: ['succeeded'] },
  { key: 'failed', label: 'failed', fill: '#dc2626', statuses: ['failed', 'timed_out', 'lost'] },
  { key: 'running', label: 'running', fill: '#2563eb', statuses: ['assigned', 'running'] },
  { key: 'cancelled', label: 'cancelled', fill: '#71717a', statuses: ['cancelled'] },
  { key: 'pending', label: 'pending', fill: '#cbd5e1', statuses: ['pending', 'blocked'] },
] as const;

export function countByGroup(tasks: readonly Task[]): Record<(typeof GROUPS)[number]['key'], number> {
  const counts = { succeeded: 0, failed: 0, running: 0, cancelled: 0, pending: 0 };
  for (const task of latestAttempts(tasks)) {
    const group = GROUPS.find((g) => (g.statuses as readonly string[]).includes(task.status));
    if (group) counts[group.key]++;
  }
  return counts;
}

/** Each group's bar placed after the ones before it, in the order of GROUPS. */
function stackBars(counts: Record<(typeof GROUPS)[number]['key'], number>) {
  let x = 0;
  return GROUPS.map((g) => {
    const bar = { key: g.key, fill: g.fill, x, width: counts[g.key] };
    x += bar.width;
    return bar;
  });
}

/**
 * An array job's elements as one stacked bar (SVG rectangles: widths are attributes, not inline
 * styles, so the page's CSP has nothing to allow) and the counts in words.
 */
export function ArrayProgress({ tasks, size }: { tasks: readonly Task[]; size: number }) {
  const counts = countByGroup(tasks);
  return (
    <div data-testid="array-progress" className="rounded bg-white p-4 shadow">
      <div className="mb-2 text-sm font-medium">
        {counts.succeeded} of {size} elements succeeded
      </div>
      <svg
        viewBox={`0 0 ${size} 1`}
        preserveAspectRatio="none"
        className="h-3 w-full rounded"
        role="img"
        aria-label={GROUPS.map((g) => `${counts[g.key]} ${g.label}`).join(', ')}
      >
        {stackBars(counts).map((bar) => (
          <rect key={bar.key} x={bar.x} y={0} width={bar.width} height={1} fill={bar.fill} />
        ))}
      </svg>
      <ul className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600">
        {GROUPS.map((g) => (
          <li key={g.key} className="flex items-center gap-1">
            <svg viewBox="0 0 1 1" className="h-2.5 w-2.5" aria-hidden="true">
              <rect width={1} height={1} fill={g.fill} />
            </svg>
            {counts[g.key]} {g.label}
          </li>
        ))}
      </ul>
    </div>
  );
}
