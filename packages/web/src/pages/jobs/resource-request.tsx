import type { ResourceRequest } from '@borg/protocol';

import { formatMegabytes } from '../../lib/format.ts';

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** What each task asks of its runner, in words; empty when it asks for nothing but a slot. */
export function describeResourceRequest(resources: ResourceRequest): string {
  const parts: string[] = [];
  if (resources.cpu !== undefined) parts.push(plural(resources.cpu, 'CPU', 'CPUs'));
  if (resources.memory_mb !== undefined) parts.push(`${formatMegabytes(resources.memory_mb)} memory`);
  if (resources.gpus) {
    const each =
      resources.gpu_memory_mb !== undefined ? ` with ${formatMegabytes(resources.gpu_memory_mb)} free each` : '';
    parts.push(`${plural(resources.gpus, 'GPU', 'GPUs')}${each}`);
  }
  return parts.join(', ');
}

/** Marks a job no runner could take when it was submitted (it asked to be queued anyway). */
export function UnsatisfiableBadge() {
  return (
    <span
      data-testid="unsatisfiable"
      title="When it was submitted, no runner the mothership knew could ever take it; it was queued anyway."
      className="rounded bg-orange-100 px-2 py-0.5 text-xs font-medium text-orange-800"
    >
      unsatisfiable at submit
    </span>
  );
}
