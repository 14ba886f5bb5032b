import type { AuditAction, AuditPage, ListAuditQuery } from '@borg/protocol';
import type { Logger } from 'pino';
import type { z } from 'zod';

import type { Principal } from '../auth/principal.ts';
import type { Database } from '../db/database.ts';
import { keysetPage } from '../paging.ts';
import { auditStore } from './audit-store.ts';

export interface AuditedCall {
  action: AuditAction;
  principal: Principal | null;
  address: string;
  objectId: string | null;
  status: number;
  requestId: string;
}

/** Who did what, from where, to which object, and how it ended; read by admins. */
export class AuditLog {
  private readonly writing = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  /**
   * Appends one entry after the call was answered. A write that fails is logged, not retried:
   * the answer has gone, and the action itself is already in the database.
   */
  record(call: AuditedCall): void {
    const { principal } = call;
    const write = auditStore
      .append(this.db, {
        tokenId: principal?.tokenId ?? null,
        tokenName: principal?.name ?? null,
        tokenKind: principal?.kind ?? null,
        role: principal?.role ?? null,
        address: call.address,
        action: call.action,
        objectType: call.objectId ? call.action.slice(0, call.action.indexOf('.')) : null,
        objectId: call.objectId,
        status: call.status,
        outcome: call.status < 400 ? 'ok' : call.status < 500 ? 'refused' : 'failed',
        requestId: call.requestId,
      })
      .catch((error: unknown) => this.log.warn({ err: error, action: call.action }, 'audit entry not written'))
      .finally(() => this.writing.delete(write));
    this.writing.add(write);
  }

  /** Waits for the entries being written (a graceful shutdown writes them before closing the database). */
  async flush(): Promise<void> {
    await Promise.all(this.writing);
  }

  list(query: z.output<typeof ListAuditQuery>): Promise<AuditPage> {
    return keysetPage(
      query,
      1,
      (limit, after) =>
        auditStore.list(this.db, {
          limit,
          tokenId: query.actor,
          action: query.action,
          objectId: query.object,
          after: query.after,
          before: query.before,
          beforeId: after?.[0],
        }),
      (event) => [event.id],
      (events) => events,
    );
  }
}
