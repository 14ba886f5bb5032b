import type { CreatedToken, CreateTokenRequest, TokenInfo, TokenList } from '@borg/protocol';
import type { z } from 'zod';

import type { Database } from '../db/database.ts';
import { notFound } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
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

  /** The token's value is in this answer only; the database keeps its hash. */
  async create(request: z.output<typeof CreateTokenRequest>): Promise<CreatedToken> {
    const { name, kind, expires_in_seconds } = request;
    const { info, token } = await tokenStore.create(this.db, { kind, name, expiresInSeconds: expires_in_seconds });
    return { ...info, token };
  }

  /** Revokes at once, on every replica: their token caches drop it on the event. */
  async revoke(id: string): Promise<TokenInfo> {
    const info = await tokenStore.revoke(this.db, id);
    if (!info) throw notFound('token', id);
    this.bus.publish({ type: 'token.revoked', token_id: info.id });
    return info;
  }
}
