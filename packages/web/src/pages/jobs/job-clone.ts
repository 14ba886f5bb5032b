import type { Job, JobFile } from '@borg/protocol';

import { durationInput } from '../../lib/format.ts';
import type { JobFormValues } from './job-request.ts';
import type { PlacementValues } from './placement-fields.tsx';
import { retryValuesOf } from './retry-fields.tsx';

/** What the new-job form starts with when it runs a job again: the job's spec as the form's text. */
export type InitialJobValues = Omit<JobFormValues, 'files' | 'secrets' | 'unsatisfiable' | keyof PlacementValues> & {
  placement: PlacementValues;
  /** The job's input files, already stored: sent again by id, nothing is uploaded. */
  files: JobFile[];
  /** Environment variable → secret name, carried over as they are (the form cannot add any). */
  secrets: Record<string, string>;
};

const lines = (record: Record<string, string>) =>
  Object.entries(record)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');

const numberText = (n: number | undefined) => (n === undefined ? '' : String(n));

/** A job's spec as the new-job form's fields hold it (an argv one argument per line). */
export function initialValuesOf(job: Job): InitialJobValues {
  return {
    name: job.name,
    type: job.type,
    command: typeof job.command === 'string' ? job.command : job.command.join('\n'),
    image: job.image ?? '',
    user: job.user ?? '',
    env: lines(job.env),
    labels: lines(job.labels),
    priority: String(job.priority),
    attempts: String(job.max_attempts),
    timeout: job.timeout_seconds ? durationInput(job.timeout_seconds) : '',
    arraySize: String(job.array_size),
    artifacts: job.artifacts.join('\n'),
    files: job.files,
    secrets: job.secrets,
    retryRules: retryValuesOf(job),
    placement: {
      cpu: numberText(job.resources.cpu),
      memoryMb: numberText(job.resources.memory_mb),
      gpus: numberText(job.resources.gpus),
      gpuMemoryMb: numberText(job.resources.gpu_memory_mb),
      constraints: job.constraints.join('\n'),
    },
  };
}

/** What of the job the form cannot carry over, in words (the form has no field for them). */
export function notCarriedOver(job: Job): string[] {
  const out: string[] = [];
  if (job.max_parallel !== null) out.push(`its max parallel (${job.max_parallel}): set it on the new job's page`);
  return out;
}
