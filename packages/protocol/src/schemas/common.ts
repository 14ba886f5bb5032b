import { z } from 'zod';

import { isSafeRelativePath } from '../safe-path.ts';

/** Ids are opaque strings (UUIDs today); clients must not parse them. */
export const Id = z.string().min(1).max(64);

/** Times travel as ISO-8601 UTC strings. */
export const Timestamp = z.string();

/**
 * Label keys follow the Kubernetes/Nomad shape so they can be typed on a command line
 * without quoting; the caps stop a runner or a job from storing megabytes of labels.
 */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$/;
export const MAX_LABELS = 64;
export const Labels = z
  .record(
    z.string().regex(LABEL_KEY_PATTERN, 'label keys are 1-63 letters, digits, "_", ".", "-" or "/"'),
    z.string().max(253),
  )
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);
export type Labels = z.infer<typeof Labels>;

export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
export const MAX_ENV_VARS = 256;
export const Env = z
  .record(
    z.string().regex(ENV_NAME_PATTERN, 'environment variable names are letters, digits and "_"'),
    z.string().max(32_768),
  )
  .refine((env) => Object.keys(env).length <= MAX_ENV_VARS, `at most ${MAX_ENV_VARS} environment variables`);
export type Env = z.infer<typeof Env>;

/** A path inside a task's work directory: relative, no `..`, no tricks (see safe-path.ts). */
export const RelativePath = z
  .string()
  .min(1)
  .max(1024)
  .refine(isSafeRelativePath, 'must be a relative path inside the work directory (no absolute path, no ".." segment)');

/** Cursor-paged lists all share this shape; `next_cursor` is null on the last page. */
export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}

export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
});

export const IdParams = z.strictObject({ id: Id });

/** `/healthz`: the process is up, and which release of Borg it runs (`borg --version` shows it). */
export const Health = z.object({ ok: z.literal(true), version: z.string() });
export type Health = z.infer<typeof Health>;

/** `/readyz`: whether this replica can serve (the database answers, its schema is current). */
/**
 * `ok` is the database and its schema; `storage` (whether the file store answers) is reported but
 * left out of `ok`: every replica shares one store, so a store outage taken as "not ready" would
 * take every replica out of rotation, jobs and logs included.
 */
export const Readiness = z.object({
  ok: z.boolean(),
  database: z.boolean(),
  migrations: z.boolean(),
  storage: z.boolean(),
});
export type Readiness = z.infer<typeof Readiness>;
