import type { Job } from '@borg/protocol';

import { durationInput } from '../../lib/format.ts';

/** A word as POSIX sh reads it back unchanged: bare when it is plain, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `--flag value` for each value, in order. */
function repeated(flag: string, values: readonly string[]): string[] {
  return values.flatMap((value) => [flag, value]);
}

function pairs(record: Record<string, string>): string[] {
  return Object.entries(record).map(([key, value]) => `${key}=${value}`);
}

/** What `borg submit` has no flag for: a person must add or accept these by hand. */
export function leftOutOfCli(job: Job): string[] {
  const out: string[] = [];
  if (job.files.length > 0) {
    out.push(
      `its ${job.files.length === 1 ? 'input file' : `${job.files.length} input files`} (add --file LOCAL:PATH)`,
    );
  }
  return out;
}

/**
 * A `borg submit` line that submits this job again: every flag the CLI has for what the job
 * holds, defaults left out, every word shell-quoted. A shell job's command is one word (the CLI
 * joins words with spaces, so it arrives as it was); a binary or container job's is its argv.
 */
/** The retry and disconnect flags of a job with rules; one --[no-]retry-on-lost always, so the rules are sent. */
function retryFlagsOf(job: Job): string[] {
  const { retry, on_disconnect: disconnect } = job;
  return [
    ...(retry?.on_exit_codes ? ['--retry-on-exit', retry.on_exit_codes.join(',')] : []),
    ...(retry?.on_signals ? ['--retry-on-signal', retry.on_signals.map((s) => s.replace(/^SIG/, '')).join(',')] : []),
    ...(retry ? [retry.on_lost ? '--retry-on-lost' : '--no-retry-on-lost'] : []),
    ...(retry?.on_timeout ? ['--retry-on-timeout'] : []),
    ...(retry?.lost_counts ? ['--lost-counts'] : []),
    ...(retry?.backoff ? ['--retry-backoff', `${retry.backoff.initial},${retry.backoff.max}`] : []),
    ...(disconnect?.keep ? ['--on-disconnect', 'keep'] : []),
    ...(disconnect?.stop_after ? ['--on-disconnect', disconnect.stop_after] : []),
  ];
}

export function cliCommandOf(job: Job): string {
  const { resources } = job;
  const words = [
    'borg',
    'submit',
    '--name',
    job.name,
    ...(job.type === 'shell' ? [] : ['--type', job.type]),
    ...(job.image ? ['--image', job.image] : []),
    ...(job.user ? ['--user', job.user] : []),
    ...repeated('--env', pairs(job.env)),
    ...repeated('--secret', pairs(job.secrets)),
    ...repeated('--label', pairs(job.labels)),
    ...repeated('--constraint', job.constraints),
    ...(resources.cpu !== undefined ? ['--cpu', String(resources.cpu)] : []),
    ...(resources.memory_mb !== undefined ? ['--memory', String(resources.memory_mb)] : []),
    ...(resources.gpus ? ['--gpus', String(resources.gpus)] : []),
    ...(resources.gpu_memory_mb !== undefined ? ['--gpu-memory', String(resources.gpu_memory_mb)] : []),
    ...(job.priority !== 0 ? ['--priority', String(job.priority)] : []),
    ...(job.max_attempts !== 1 ? ['--attempts', String(job.max_attempts)] : []),
    ...retryFlagsOf(job),
    ...(job.timeout_seconds ? ['--timeout', durationInput(job.timeout_seconds)] : []),
    ...(job.array_size !== 1 ? ['--array', String(job.array_size)] : []),
    ...(job.max_parallel !== null ? ['--max-parallel', String(job.max_parallel)] : []),
    ...repeated('--artifact', job.artifacts),
    '--',
    ...(typeof job.command === 'string' ? [job.command] : job.command),
  ];
  return words.map(shellQuote).join(' ');
}
