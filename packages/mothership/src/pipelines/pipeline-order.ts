import type { ValidCreateJobRequest } from '@borg/protocol';

import { BorgError } from '../errors.ts';

/**
 * The order to create a pipeline's jobs in: each after every job of the pipeline it names in
 * `depends_on` or `inputs_from` (Kahn's algorithm, ties in request order). A name no job of the
 * pipeline has, or a cycle, is a 400 naming it.
 */
export function creationOrder(jobs: readonly ValidCreateJobRequest[]): number[] {
  const indexOf = new Map(jobs.map((job, i) => [job.name, i]));
  const upstreamsOf = jobs.map((job, i) => {
    const refs = [
      ...job.depends_on.map((d, k) => ({ name: d.name, field: `jobs.${i}.depends_on.${k}.name` })),
      ...job.inputs_from.map((d, k) => ({ name: d.name, field: `jobs.${i}.inputs_from.${k}.name` })),
    ];
    const upstreams = new Set<number>();
    for (const { name, field } of refs) {
      if (name === undefined) continue;
      const upstream = indexOf.get(name);
      if (upstream === undefined) {
        throw new BorgError('VALIDATION_FAILED', `${field}: no job named "${name}" in this pipeline`, { field });
      }
      if (upstream === i) {
        throw new BorgError('VALIDATION_FAILED', `${field}: job "${name}" cannot depend on itself`, { field });
      }
      upstreams.add(upstream);
    }
    return upstreams;
  });

  const waitingOn = upstreamsOf.map((set) => set.size);
  const downstreamOf = jobs.map(() => [] as number[]);
  upstreamsOf.forEach((set, i) => set.forEach((u) => downstreamOf[u]!.push(i)));
  const order: number[] = [];
  const ready = jobs.map((_, i) => i).filter((i) => waitingOn[i] === 0);
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const next = ready.shift()!;
    order.push(next);
    for (const d of downstreamOf[next]!) if (--waitingOn[d]! === 0) ready.push(d);
  }
  if (order.length < jobs.length) {
    const inCycle = jobs.map((job, i) => ({ job, i })).filter(({ i }) => waitingOn[i]! > 0);
    throw new BorgError(
      'VALIDATION_FAILED',
      `the pipeline's dependencies form a cycle through ${inCycle.map(({ job }) => `"${job.name}"`).join(', ')}`,
      { field: 'jobs', jobs: inCycle.map(({ job }) => job.name) },
    );
  }
  return order;
}
