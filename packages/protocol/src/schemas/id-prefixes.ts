import { z } from 'zod';

import type { QueryInput } from '../route-definition.ts';

/** What an id prefix may name: `borg jobs show 389e0e` and the like. */
export const ID_KINDS = ['job', 'task', 'runner', 'schedule'] as const;
export const IdKind = z.enum(ID_KINDS);
export type IdKind = z.infer<typeof IdKind>;

/** The most ids one prefix is resolved to: enough to show that it is ambiguous. */
export const MAX_ID_MATCHES = 10;

export const ResolveIdsQuery = z.strictObject({
  /** The start of an id as it is printed: 6 to 36 characters of 0-9, a-f and `-`. */
  prefix: z.string().regex(/^[0-9a-f-]{6,36}$/, 'an id prefix is 6 to 36 characters of 0-9, a-f and -'),
  /** One kind, a comma-separated list, or the parameter repeated. */
  kind: z
    .union([z.string().max(40), z.array(z.string().max(10)).max(ID_KINDS.length)])
    .transform((value) => (typeof value === 'string' ? value.split(',') : value))
    .pipe(z.array(IdKind).min(1)),
});
export type ResolveIdsQuery = QueryInput<typeof ResolveIdsQuery>;

export const ResolvedId = z.object({
  kind: IdKind,
  id: z.string(),
  /** The job's, runner's or schedule's name; for a task, its job's name with the element and attempt. */
  name: z.string(),
});
export type ResolvedId = z.infer<typeof ResolvedId>;

/** Every id of the kinds asked that starts with the prefix, at most MAX_ID_MATCHES. */
export const ResolvedIds = z.object({ items: z.array(ResolvedId) });
export type ResolvedIds = z.infer<typeof ResolvedIds>;
