import type { CreateJobRequest } from '@borg/protocol';

import type { FileProblem } from './pipeline-file.ts';

type Reference = { name?: string | undefined };
type JobRefs = Pick<CreateJobRequest, 'name'> & { depends_on?: Reference[]; inputs_from?: Reference[] };

/**
 * The first wrong reference between a pipeline's jobs, as the mothership would refuse it
 * (packages/mothership/src/pipelines/pipeline-order.ts), but named for a person editing the file:
 * a name no job has (with the names there are), a job naming itself, or a cycle spelled out
 * (`"a" waits for "b", which waits for "a"`). References by `job_id` are to jobs outside the file and are left to the
 * mothership.
 */
export function pipelineReferenceProblem(jobs: readonly JobRefs[]): FileProblem | undefined {
  const indexOf = new Map(jobs.map((job, i) => [job.name, i]));
  // Each job's references to jobs of the file, with where each is written.
  const edges = jobs.map(() => [] as Array<{ to: number; path: Array<string | number> }>);
  for (const [i, job] of jobs.entries()) {
    for (const field of ['depends_on', 'inputs_from'] as const) {
      for (const [k, ref] of (job[field] ?? []).entries()) {
        if (ref.name === undefined) continue;
        const path = ['jobs', i, field, k, 'name'];
        const to = indexOf.get(ref.name);
        if (to === undefined) {
          const known = jobs.map((j) => j.name).join(', ');
          return { path, message: `no job named "${ref.name}" in this pipeline (its jobs: ${known})` };
        }
        if (to === i) return { path, message: 'a job cannot depend on itself' };
        edges[i]!.push({ to, path });
      }
    }
  }
  return cycleProblem(jobs, edges);
}

/** Depth-first from each job along its references; reaching a job still on the path closes a cycle. */
function cycleProblem(
  jobs: readonly JobRefs[],
  edges: ReadonlyArray<ReadonlyArray<{ to: number; path: Array<string | number> }>>,
): FileProblem | undefined {
  const state = jobs.map(() => 'new' as 'new' | 'open' | 'done');
  const trail: number[] = [];
  const visit = (job: number): FileProblem | undefined => {
    state[job] = 'open';
    trail.push(job);
    for (const edge of edges[job]!) {
      if (state[edge.to] === 'open') {
        const loop = [...trail.slice(trail.indexOf(edge.to)), edge.to].map((j) => `"${jobs[j]!.name}"`);
        return { path: edge.path, message: `a cycle of dependencies: ${loop.join(', which waits for ')}` };
      }
      if (state[edge.to] === 'new') {
        const found = visit(edge.to);
        if (found) return found;
      }
    }
    trail.pop();
    state[job] = 'done';
    return undefined;
  };
  for (const job of jobs.keys()) {
    if (state[job] !== 'new') continue;
    const found = visit(job);
    if (found) return found;
  }
  return undefined;
}
