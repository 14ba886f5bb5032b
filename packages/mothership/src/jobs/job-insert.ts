import {
  parseByteSize,
  parseConstraint,
  type ParsedConstraint,
  retentionSeconds,
  type ValidCreateJobRequest,
} from '@borg/protocol';

import type { Principal } from '../auth/principal.ts';
import type { Queryable } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import { fileStore } from '../files/file-store.ts';
import { secretStore } from '../secrets/secret-store.ts';
import { dependencyStore, type DownstreamChange, type NewDependency, type NewInput } from './dependency-store.ts';
import { settleEnded } from './job-refresh.ts';
import { storedOnDisconnect, storedRetry } from './job-retry-spec.ts';
import { type JobOrigin, type JobRow, jobStore } from './job-store.ts';

export interface InsertOptions {
  /** Whether the job is marked as no known runner could take it (satisfiability.ts). */
  unsatisfiable: boolean;
  submitter: Principal;
  idempotency?: { key: string; requestSha256: string };
  /** The pipeline request it comes in, and its place there. */
  pipeline?: { id: string; position: number };
  /** A pipeline's local names to the ids of its jobs created so far; absent outside a pipeline. */
  idOfName?: (name: string) => string | undefined;
  /** The schedule and slot firing this job (one job per pair). */
  origin?: JobOrigin;
}

/** What inserting a job did: its row, and the jobs an already-ended upstream moved (itself too). */
export interface InsertedJob {
  row: JobRow;
  downstream: DownstreamChange[];
}

/** Whether inserting this job needs more than its one statement (checks, dependencies). */
export function insertNeedsTransaction(input: ValidCreateJobRequest): boolean {
  return (
    input.files.length > 0 || input.secrets !== undefined || input.depends_on.length > 0 || input.inputs_from.length > 0
  );
}

/**
 * Checks what the job refers to (files, secrets, upstream jobs) and inserts it with its tasks,
 * dependencies and inputs. Upstream jobs are share-locked first (dependencyStore.lockUpstreams),
 * and those that already ended are resolved at once, so the job may be born released or
 * skipped. Null when the idempotency key was already taken.
 */
export async function insertJob(
  tx: Queryable,
  input: ValidCreateJobRequest,
  options: InsertOptions,
): Promise<InsertedJob | null> {
  await assertFilesExist(tx, input);
  await assertSecretsExist(tx, input);
  const { dependencies, inputs } = upstreamsOf(input, options.idOfName);
  const upstreams = await dependencyStore.lockUpstreams(
    tx,
    dependencies.map((d) => d.upstreamId),
  );
  for (const [i, dependency] of dependencies.entries()) {
    if (!upstreams.has(dependency.upstreamId)) {
      throw new BorgError('VALIDATION_FAILED', `unknown job id ${dependency.upstreamId} in depends_on`, {
        field: i < input.depends_on.length ? `depends_on.${i}.job_id` : 'inputs_from',
      });
    }
  }
  inputs.forEach((each, i) => {
    const upstream = upstreams.get(each.upstreamId)!;
    if (each.sameElement && upstream.array_size !== input.array_size) {
      throw new BorgError(
        'VALIDATION_FAILED',
        `inputs_from ${i}: element "same" needs arrays of one size, and "${upstream.name}" has ${upstream.array_size} elements, this job ${input.array_size}`,
        { field: `inputs_from.${i}.element` },
      );
    }
  });

  const row = await jobStore.insert(tx, {
    name: input.name,
    type: input.type === 'docker' ? 'container' : input.type,
    command: input.command,
    image: input.image ?? null,
    container_user: input.user ?? null,
    env: input.env ?? {},
    secrets: input.secrets ?? {},
    labels: input.labels ?? {},
    resources: input.resources ?? {},
    constraints: parsedConstraints(input.constraints),
    unsatisfiable: options.unsatisfiable,
    priority: input.priority,
    max_attempts: input.max_attempts,
    retry: storedRetry(input),
    on_disconnect: storedOnDisconnect(input),
    log_limit: input.log_limit === undefined ? null : parseByteSize(input.log_limit),
    log_overflow: input.log_overflow ?? null,
    timeout_seconds: input.timeout_seconds ?? null,
    array_size: input.array_size,
    max_parallel: input.max_parallel ?? null,
    artifacts: input.artifacts,
    files: input.files,
    retention_seconds: input.retention === undefined ? null : retentionSeconds(input.retention),
    pinned: input.pinned ?? false,
    keep_last: input.keep_last ?? null,
    idempotency: options.idempotency,
    createdBy: { tokenId: options.submitter.tokenId, name: options.submitter.name },
    dependencyCount: dependencies.length,
    pipeline: options.pipeline ?? null,
    origin: options.origin,
  });
  if (!row || dependencies.length === 0) return row && { row, downstream: [] };

  await dependencyStore.insert(tx, row.id, dependencies, inputs);
  const ended = [...upstreams.values()].filter((u) => u.ended);
  if (ended.length === 0) return { row, downstream: [] };
  const downstream = await settleEnded(tx, ended, row.id);
  return { row: (await jobStore.get(tx, row.id))!, downstream };
}

/**
 * The job's dependencies and inputs with upstream ids: every upstream of `inputs_from` is also a
 * dependency (`succeeded`, unless `depends_on` names it with another condition).
 */
function upstreamsOf(
  input: ValidCreateJobRequest,
  idOfName: InsertOptions['idOfName'],
): { dependencies: NewDependency[]; inputs: NewInput[] } {
  const idOf = (ref: { job_id?: string | undefined; name?: string | undefined }, field: string): string => {
    if (ref.job_id !== undefined) return ref.job_id;
    if (!idOfName) {
      throw new BorgError(
        'VALIDATION_FAILED',
        `${field}: upstream jobs are named by job_id; "name" refers to another job of the same pipeline (POST /api/v1/pipelines)`,
        { field },
      );
    }
    const id = idOfName(ref.name!);
    if (!id)
      throw new BorgError('VALIDATION_FAILED', `${field}: no job named "${ref.name}" in this pipeline`, { field });
    return id;
  };
  const dependencies: NewDependency[] = input.depends_on.map((d, i) => ({
    upstreamId: idOf(d, `depends_on.${i}`),
    condition: d.condition,
  }));
  const inputs: NewInput[] = input.inputs_from.map((each, i) => ({
    upstreamId: idOf(each, `inputs_from.${i}`),
    artifacts: each.artifacts,
    path: each.path ?? null,
    sameElement: each.element === 'same',
  }));
  const seen = new Set(dependencies.map((d) => d.upstreamId));
  for (const each of inputs) {
    if (!seen.has(each.upstreamId)) dependencies.push({ upstreamId: each.upstreamId, condition: 'succeeded' });
    seen.add(each.upstreamId);
  }
  return { dependencies, inputs };
}

async function assertFilesExist(tx: Queryable, input: ValidCreateJobRequest): Promise<void> {
  const fileIds = [...new Set(input.files.map((f) => f.file_id))];
  if (fileIds.length === 0) return;
  const missing = await fileStore.unknownIds(tx, fileIds);
  if (missing.length > 0) {
    throw new BorgError('VALIDATION_FAILED', `unknown file id ${missing.join(', ')}: upload it first`, {
      field: 'files',
      missing,
    });
  }
}

async function assertSecretsExist(tx: Queryable, input: ValidCreateJobRequest): Promise<void> {
  const names = [...new Set(Object.values(input.secrets ?? {}))];
  if (names.length === 0) return;
  const missing = await secretStore.unknownNames(tx, names);
  if (missing.length > 0) {
    throw new BorgError('VALIDATION_FAILED', `unknown secret ${missing.join(', ')}: create it first`, {
      field: 'secrets',
      missing,
    });
  }
}

/** The request's constraint expressions (already checked by its schema) in their stored form; null for none. */
export function parsedConstraints(texts: readonly string[] | undefined): ParsedConstraint[] | null {
  if (!texts || texts.length === 0) return null;
  return texts.map((text) => {
    const parsed = parseConstraint(text);
    if (!parsed.ok) throw new BorgError('VALIDATION_FAILED', parsed.error, { field: 'constraints' });
    return parsed.value;
  });
}
