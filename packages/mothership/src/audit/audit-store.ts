import type { AuditAction, AuditEvent, AuditOutcome, Role, TokenKind } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

export interface NewAuditEvent {
  tokenId: string | null;
  tokenName: string | null;
  tokenKind: TokenKind | null;
  role: Role | null;
  address: string;
  action: AuditAction;
  objectType: string | null;
  objectId: string | null;
  status: number;
  outcome: AuditOutcome;
  requestId: string | null;
}

export interface AuditFilter {
  limit: number;
  tokenId?: string;
  action?: AuditAction;
  objectId?: string;
  after?: string;
  before?: string;
  /** Only entries written before this one (the previous page's last id). */
  beforeId?: string;
}

interface AuditRow {
  id: string;
  at: Date;
  token_id: string | null;
  token_name: string | null;
  token_kind: TokenKind | null;
  role: Role | null;
  address: string;
  action: AuditAction;
  object_type: string | null;
  object_id: string | null;
  status: number;
  outcome: AuditOutcome;
  request_id: string | null;
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actor:
      row.token_id && row.token_kind
        ? { token_id: row.token_id, name: row.token_name ?? '', kind: row.token_kind, role: row.role }
        : null,
    address: row.address,
    action: row.action,
    object: row.object_type && row.object_id ? { type: row.object_type, id: row.object_id } : null,
    status: row.status,
    outcome: row.outcome,
    request_id: row.request_id,
  };
}

/** The audit log: appended to, read in pages, never changed (a trigger refuses UPDATE and DELETE). */
export const auditStore = {
  async append(db: Queryable, event: NewAuditEvent): Promise<void> {
    await db.query(
      `INSERT INTO audit_events (token_id, token_name, token_kind, role, address, action, object_type, object_id,
                                 status, outcome, request_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        event.tokenId,
        event.tokenName,
        event.tokenKind,
        event.role,
        event.address,
        event.action,
        event.objectType,
        event.objectId,
        event.status,
        event.outcome,
        event.requestId,
      ],
    );
  },

  /**
   * Newest first, keyset-paged on the id; each filter has an index that walks ids in that order.
   * The order names the column: the selected `id` is text, which would sort 9 before 10.
   */
  async list(db: Queryable, filter: AuditFilter): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.tokenId) where.push(`token_id = ${param(filter.tokenId)}::uuid`);
    if (filter.action) where.push(`action = ${param(filter.action)}`);
    if (filter.objectId) where.push(`object_id = ${param(filter.objectId)}`);
    if (filter.after) where.push(`at >= ${param(filter.after)}::timestamptz`);
    if (filter.before) where.push(`at < ${param(filter.before)}::timestamptz`);
    if (filter.beforeId) where.push(`id < ${param(filter.beforeId)}::bigint`);
    const { rows } = await db.query<AuditRow>(
      `SELECT id::text AS id, at, token_id, token_name, token_kind, role, address, action, object_type, object_id,
              status, outcome, request_id
         FROM audit_events
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY audit_events.id DESC
        LIMIT ${param(filter.limit)}`,
      params,
    );
    return rows.map(toAuditEvent);
  },
};
