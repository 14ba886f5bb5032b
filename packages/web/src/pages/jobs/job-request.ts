import { CreateJobRequest, type JobType, MAX_TIMEOUT_SECONDS, type UnsatisfiablePolicy } from '@borg/protocol';

import { durationInput, parseDuration } from '../../lib/format.ts';
import { retryRequestOf, type RetryValues } from './retry-fields.tsx';

/** The new-job form's fields, each named as the request field it fills. */
export const FIELDS = [
  'name',
  'type',
  'command',
  'image',
  'user',
  'env',
  'labels',
  'priority',
  'max_attempts',
  'timeout_seconds',
  'array_size',
  'artifacts',
  'files',
  'resources.cpu',
  'resources.memory_mb',
  'resources.gpus',
  'resources.gpu_memory_mb',
  'constraints',
  'retry',
  'on_disconnect',
] as const;
/** A field of the form, or `form` for what belongs to none. */
export type Field = (typeof FIELDS)[number] | 'form';
export type FieldErrors = Partial<Record<Field, string>>;

/** What the form holds: text as typed, and the input files with their upload state. */
export interface JobFormValues {
  name: string;
  type: JobType;
  command: string;
  image: string;
  /** A container job's uid or uid:gid; blank: the image's own user. */
  user: string;
  env: string;
  labels: string;
  priority: string;
  attempts: string;
  timeout: string;
  arraySize: string;
  artifacts: string;
  files: ReadonlyArray<{ path: string; fileId?: string; failed: boolean }>;
  /** Environment variable → secret name: only a job run again has any (the form cannot add them). */
  secrets?: Record<string, string>;
  /** What each task asks of its runner; blank: nothing. */
  cpu: string;
  memoryMb: string;
  gpus: string;
  gpuMemoryMb: string;
  /** Constraint expressions, one per line. */
  constraints: string;
  /** What the mothership does when no runner could ever take the job. */
  unsatisfiable: UnsatisfiablePolicy;
  /** Retry rules and the disconnect policy (retry-fields.tsx); absent: none. */
  retryRules?: RetryValues;
}

/** The form field a path into the request names: `['resources', 'cpu']` → `resources.cpu`, `['files', 0]` → `files`. */
export function fieldOfPath(path: ReadonlyArray<PropertyKey>): Field {
  const [first, second] = path;
  const candidate = first === 'resources' && typeof second === 'string' ? `resources.${second}` : first;
  return FIELDS.includes(candidate as never) ? (candidate as Field) : 'form';
}

/** Turns `KEY=value` lines into a record; blank lines are skipped. Throws on a line without `=`. */
export function parsePairs(text: string, what: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: "${line}" is not KEY=value`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Non-blank lines, trimmed at the end only (leading spaces can matter in an argument). */
export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l !== '');
}

/**
 * A number field's text as a number. A number input holds '' for anything that is not a number,
 * so blank is not a number (NaN, which the schema refuses), unless blank means "none".
 */
function numberOf(text: string, blank: 'none' | 'not a number' = 'not a number'): number | undefined {
  if (text.trim() === '') return blank === 'none' ? undefined : NaN;
  return Number(text);
}

/** How the form names its number fields in a message. */
const NUMBER_NAMES: Partial<Record<Field, string>> = {
  priority: 'priority',
  max_attempts: 'attempts',
  timeout_seconds: 'the timeout',
  array_size: 'the array size',
  'resources.cpu': 'CPU',
  'resources.memory_mb': 'memory',
  'resources.gpus': 'GPUs',
  'resources.gpu_memory_mb': 'GPU memory',
};

/** Numbers that may be fractional (CPU); the others are whole. */
const FRACTIONAL: ReadonlySet<Field> = new Set(['resources.cpu']);

type SchemaIssue = NonNullable<ReturnType<typeof CreateJobRequest.safeParse>['error']>['issues'][number];

/** A schema issue in the form's words where the schema's own would not say what to type. */
function describeIssue(field: Field, issue: SchemaIssue): string {
  if (field === 'name' && issue.code === 'too_small') return 'a job needs a name';
  if (field === 'command' && issue.code === 'too_small') return 'a job needs a command';
  if (field === 'timeout_seconds' && issue.code === 'too_big') {
    return `the timeout is at most ${durationInput(MAX_TIMEOUT_SECONDS)} (${MAX_TIMEOUT_SECONDS} seconds)`;
  }
  if (field === 'timeout_seconds' && issue.code === 'too_small') return 'the timeout is at least 1s';
  const number = NUMBER_NAMES[field];
  if (number && issue.code === 'invalid_type') return `${number} is ${FRACTIONAL.has(field) ? 'a' : 'a whole'} number`;
  // A rule deep in `retry` or `on_disconnect` is named by its path: "on_exit_codes.0: …".
  if (field === 'retry' || field === 'on_disconnect') {
    const where = issue.path.slice(1).map(String).join('.');
    return where ? `${where}: ${issue.message}` : issue.message;
  }
  if (issue.code === 'invalid_key')
    return `"${String(issue.path.at(-1))}": ${issue.issues[0]?.message ?? issue.message}`;
  return issue.message;
}

/** The resource fields as a request; none filled in: no request at all. */
function resourcesOf(values: JobFormValues): Record<string, number> | undefined {
  const resources = Object.entries({
    cpu: numberOf(values.cpu, 'none'),
    memory_mb: numberOf(values.memoryMb, 'none'),
    gpus: numberOf(values.gpus, 'none'),
    gpu_memory_mb: numberOf(values.gpuMemoryMb, 'none'),
  }).filter((entry): entry is [string, number] => entry[1] !== undefined);
  return resources.length > 0 ? Object.fromEntries(resources) : undefined;
}

/** One constraint expression per non-blank line, trimmed; none: no constraints. */
function constraintsOf(text: string): string[] | undefined {
  const list = lines(text).map((l) => l.trim());
  return list.length > 0 ? list : undefined;
}

/**
 * The form's values as a request that the protocol's CreateJobRequest accepts (the rules the
 * mothership applies), or a message per field. Text is read into the request's types first
 * (`KEY=value` lines, numbers, one argument per line); the schema then judges the request.
 */
export function buildJobRequest(values: JobFormValues): { request: CreateJobRequest } | { problems: FieldErrors } {
  const problems: FieldErrors = {};
  const pairs = (field: 'env' | 'labels', text: string, what: string) => {
    try {
      return parsePairs(text, what);
    } catch (e) {
      problems[field] = (e as Error).message;
      return undefined;
    }
  };
  const timeout = parseDuration(values.timeout);
  if (Number.isNaN(timeout)) problems.timeout_seconds = 'the timeout is a duration such as 90s, 10m, 2h or 1h30m';
  const candidate = {
    name: values.name,
    type: values.type,
    command: values.type === 'shell' ? values.command : lines(values.command),
    image: values.type === 'container' ? values.image.trim() || undefined : undefined,
    user: values.type === 'container' ? values.user.trim() || undefined : undefined,
    env: pairs('env', values.env, 'environment'),
    secrets: values.secrets && Object.keys(values.secrets).length > 0 ? values.secrets : undefined,
    labels: pairs('labels', values.labels, 'labels'),
    priority: numberOf(values.priority),
    max_attempts: numberOf(values.attempts),
    timeout_seconds: Number.isNaN(timeout) ? undefined : timeout,
    array_size: numberOf(values.arraySize),
    artifacts: lines(values.artifacts),
    files: values.files.map((f) => ({ file_id: f.fileId ?? '', path: f.path })),
    resources: resourcesOf(values),
    constraints: constraintsOf(values.constraints),
    unsatisfiable: values.unsatisfiable,
    ...(values.retryRules ? retryRequestOf(values.retryRules) : {}),
  };
  if (values.files.some((f) => f.failed)) problems.files = 'remove the files that failed to upload';
  else if (values.files.some((f) => !f.fileId)) problems.files = 'wait for the uploads to finish';

  const parsed = CreateJobRequest.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = fieldOfPath(issue.path);
      problems[field] ??= describeIssue(field, issue);
    }
  }
  if (!parsed.success || Object.keys(problems).length > 0) return { problems };
  return { request: parsed.data };
}
