import type { AllowedLabels, Role, TokenInfo } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import type { Principal } from './principal.ts';
import { generateToken, hashToken, type TokenKind } from './token-secret.ts';

interface TokenRow {
  id: string;
  kind: TokenKind;
  name: string;
  role: Role | null;
  runner_id: string | null;
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  max_uses: number | null;
  uses: number;
  allowed_labels: AllowedLabels | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toTokenInfo(row: TokenRow): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    role: row.role,
    runner_id: row.runner_id,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    last_used_at: iso(row.last_used_at),
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
    max_uses: row.max_uses,
    uses: row.uses,
    allowed_labels: row.allowed_labels,
  };
}

const COLUMNS =
  'id, kind, name, role, runner_id, created_by, created_at, last_used_at, expires_at, revoked_at, max_uses, uses, allowed_labels';

/** SQL for credentials. Only hashes go in and out of the database; plaintext exists once, at creation. */
export const tokenStore = {
  async findActiveByHash(db: Queryable, tokenHash: string): Promise<Principal | null> {
    const { rows } = await db.query<Pick<TokenRow, 'id' | 'kind' | 'name' | 'role' | 'runner_id'>>(
      `SELECT id, kind, name, role, runner_id FROM api_tokens
        WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return null;
    return { kind: row.kind, tokenId: row.id, name: row.name, runnerId: row.runner_id, role: row.role };
  },

  async create(
    db: Queryable,
    input: {
      kind: TokenKind;
      name: string;
      /** Required for user tokens, absent for the other kinds. */
      role?: Role;
      expiresInSeconds?: number;
      runnerId?: string;
      createdBy?: string;
      plaintext?: string;
      /** Registration tokens only. */
      maxUses?: number;
      allowedLabels?: AllowedLabels;
    },
  ): Promise<{ info: TokenInfo; token: string }> {
    const token = input.plaintext ?? generateToken(input.kind);
    const { rows } = await db.query<TokenRow>(
      `INSERT INTO api_tokens (kind, name, role, token_hash, runner_id, created_by, expires_at, max_uses, allowed_labels)
       VALUES ($1, $2, $3, $4, $5, $6,
               CASE WHEN $7::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $7::integer) END,
               $8, $9::jsonb)
       RETURNING ${COLUMNS}`,
      [
        input.kind,
        input.name,
        input.role ?? null,
        hashToken(token),
        input.runnerId ?? null,
        input.createdBy ?? null,
        input.expiresInSeconds ?? null,
        input.maxUses ?? null,
        input.allowedLabels ? JSON.stringify(input.allowedLabels) : null,
      ],
    );
    return { info: toTokenInfo(rows[0]!), token };
  },

  /**
   * Makes a token given in the environment valid (idempotent across restarts), and revokes the
   * one an earlier start was given under the same name: changing the variable retires the old
   * value. Says whether this value had been revoked (it then stays so) and how many it replaced.
   */
  async ensure(
    db: Queryable,
    kind: TokenKind,
    name: string,
    plaintext: string,
    role?: Role,
  ): Promise<{ revoked: boolean; replaced: number }> {
    const hash = hashToken(plaintext);
    await db.query(
      `INSERT INTO api_tokens (kind, name, role, token_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO NOTHING`,
      [kind, name, role ?? null, hash],
    );
    const replaced = await db.query(
      `UPDATE api_tokens SET revoked_at = now()
        WHERE kind = $1 AND name = $2 AND created_by IS NULL AND token_hash <> $3 AND revoked_at IS NULL`,
      [kind, name, hash],
    );
    const { rows } = await db.query<{ revoked: boolean }>(
      'SELECT revoked_at IS NOT NULL AS revoked FROM api_tokens WHERE token_hash = $1',
      [hash],
    );
    return { revoked: rows[0]?.revoked ?? false, replaced: replaced.rowCount };
  },

  async countActive(db: Queryable, kind: TokenKind): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM api_tokens WHERE kind = $1 AND revoked_at IS NULL',
      [kind],
    );
    return rows[0]?.n ?? 0;
  },

  async list(db: Queryable): Promise<TokenInfo[]> {
    const { rows } = await db.query<TokenRow>(
      `SELECT ${COLUMNS} FROM api_tokens WHERE kind <> 'runner' ORDER BY created_at, id`,
    );
    return rows.map(toTokenInfo);
  },

  async revoke(db: Queryable, id: string): Promise<TokenInfo | null> {
    const { rows } = await db.query<TokenRow>(
      `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND kind <> 'runner'
       RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] ? toTokenInfo(rows[0]) : null;
  },

  /**
   * Counts one registration against a registration token's `max_uses`, and returns the labels it
   * allows (null: any); null when the token is used up, revoked or expired. The row lock orders
   * registrations racing for the last use.
   */
  async useForRegistration(db: Queryable, tokenId: string): Promise<{ allowedLabels: AllowedLabels | null } | null> {
    const { rows } = await db.query<{ allowed_labels: AllowedLabels | null }>(
      `UPDATE api_tokens SET uses = uses + 1
        WHERE id = $1 AND kind = 'registration' AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > now()) AND (max_uses IS NULL OR uses < max_uses)
        RETURNING allowed_labels`,
      [tokenId],
    );
    return rows[0] ? { allowedLabels: rows[0].allowed_labels } : null;
  },

  /** The labels a registration token allows its runners (null: any, or no such token). */
  async allowedLabelsOf(db: Queryable, tokenId: string): Promise<AllowedLabels | null> {
    const { rows } = await db.query<{ allowed_labels: AllowedLabels | null }>(
      'SELECT allowed_labels FROM api_tokens WHERE id = $1',
      [tokenId],
    );
    return rows[0]?.allowed_labels ?? null;
  },

  /** Ends every token of a runner; returns their ids (for the caches to drop them). */
  async revokeRunnerTokens(db: Queryable, runnerId: string): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      'UPDATE api_tokens SET revoked_at = now() WHERE runner_id = $1 AND revoked_at IS NULL RETURNING id',
      [runnerId],
    );
    return rows.map((r) => r.id);
  },

  /** Issues a runner's token, ending every earlier one: one live session per runner. */
  async replaceRunnerToken(
    db: Queryable,
    runnerId: string,
    runnerName: string,
  ): Promise<{ token: string; revokedIds: string[] }> {
    const revokedIds = await tokenStore.revokeRunnerTokens(db, runnerId);
    const { token } = await tokenStore.create(db, { kind: 'runner', name: `runner ${runnerName}`, runnerId });
    return { token, revokedIds };
  },

  /** Which of these token ids are still valid (not revoked, not expired). */
  async stillActive(db: Queryable, ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM api_tokens
        WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [ids],
    );
    return new Set(rows.map((row) => row.id));
  },

  async touch(db: Queryable, tokenIds: readonly string[]): Promise<void> {
    if (tokenIds.length === 0) return;
    await db.query('UPDATE api_tokens SET last_used_at = now() WHERE id = ANY($1::uuid[])', [tokenIds]);
  },
};
