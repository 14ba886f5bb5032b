import { z } from 'zod';

import type { QueryInput } from '../route-definition.ts';
import { Id, page, Timestamp } from './common.ts';
import { RoleName, TokenKind } from './tokens.ts';

/**
 * What an audit entry records. Each route that changes state or hands out bytes names its action
 * in the route table; the object is the one the route's path names, or the one it created.
 */
export const AUDIT_ACTIONS = [
  'job.submit',
  'job.pause',
  'job.resume',
  'job.cancel',
  'job.retry',
  'job.update',
  'job.delete',
  'element.retry',
  'element.cancel',
  'schedule.create',
  'schedule.update',
  'schedule.delete',
  'schedule.trigger',
  'pipeline.submit',
  'runner.register',
  'runner.drain',
  'runner.resume',
  'runner.approve',
  'runner.delete',
  'file.upload',
  'file.download',
  'token.create',
  'token.revoke',
  'secret.update',
  'secret.delete',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'webhook.redeliver',
  'webhook.ping',
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

/** `ok` for a success, `refused` for a 4xx answer (no rights, bad input, wrong state), `failed` for a 5xx. */
export const AuditOutcome = z.enum(['ok', 'refused', 'failed']);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

export const AuditEvent = z.object({
  id: z.string(),
  at: Timestamp,
  /** Who: null when the request carried no valid token. */
  actor: z.object({ token_id: Id, name: z.string(), kind: TokenKind, role: RoleName.nullable() }).nullable(),
  address: z.string(),
  action: AuditAction,
  object: z.object({ type: z.string(), id: z.string() }).nullable(),
  status: z.number().int(),
  outcome: AuditOutcome,
  request_id: z.string().nullable(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

export const AuditPage = page(AuditEvent);
export type AuditPage = z.infer<typeof AuditPage>;

export const ListAuditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(512).optional(),
  /** Entries of this token. */
  actor: z.guid('actor must be a token id').optional(),
  action: AuditAction.optional(),
  /** Entries about this object (a job, runner, file or token id). */
  object: z.string().min(1).max(64).optional(),
  /** Entries at or after this time (ISO-8601). */
  after: z.iso.datetime({ offset: true }).optional(),
  /** Entries before this time (ISO-8601). */
  before: z.iso.datetime({ offset: true }).optional(),
});
export type ListAuditQuery = QueryInput<typeof ListAuditQuery>;
