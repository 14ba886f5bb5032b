import {
  type CreatedToken,
  type CreateTokenRequest,
  type Identity,
  roleAtLeast,
  type TokenInfo,
  type TokenList,
} from '@borg/protocol';
import type { z } from 'zod';

import type { Database } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { Principal } from './principal.ts';
import { tokenStore } from './token-store.ts';

/** User and registration tokens as an admin manages them; runner tokens come from registration. */
export class TokenService {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
  ) {}

  async list(): Promise<TokenList> {
    return { items: await tokenStore.list(this.db), next_cursor: null };
  }

  /**
   * The token's value is in this answer only; the database keeps its hash. A user token gets the
   * asked role (default submitter), never one above its creator's.
   */
  async create(request: z.output<typeof CreateTokenRequest>, creator: Principal): Promise<CreatedToken> {
    const { name, kind, expires_in_seconds, max_uses, allowed_labels } = request;
    if (kind !== 'user' && request.role) {
      throw new BorgError('VALIDATION_FAILED', `role: only user tokens have a role, not ${kind} tokens`);
    }
    if (kind !== 'registration' && (max_uses !== undefined || allowed_labels !== undefined)) {
      throw new BorgError('VALIDATION_FAILED', `max_uses and allowed_labels: only registration tokens have them`);
    }
    const role = kind === 'user' ? (request.role ?? 'submitter') : undefined;
    if (role && !roleAtLeast(creator.role ?? 'viewer', role)) {
      throw new BorgError('FORBIDDEN', `a token of role ${creator.role ?? 'none'} cannot create one of role ${role}`);
    }
    const { info, token } = await tokenStore.create(this.db, {
      kind,
      name,
      role,
      expiresInSeconds: expires_in_seconds,
      createdBy: creator.tokenId,
      maxUses: max_uses,
      allowedLabels: allowed_labels,
    });
    return { ...info, token };
  }

  /** Revokes at once, on every replica: their token caches drop it on the event. */
  async revoke(id: string): Promise<TokenInfo> {
    const info = await tokenStore.revoke(this.db, id);
    if (!info) throw notFound('token', id);
    this.bus.publish({ type: 'token.revoked', token_id: info.id });
    return info;
  }

  /** What a token knows of itself. */
  whoami(principal: Principal): Identity {
    return {
      token_id: principal.tokenId,
      name: principal.name,
      kind: principal.kind,
      role: principal.role,
      runner_id: principal.runnerId,
    };
  }
}
