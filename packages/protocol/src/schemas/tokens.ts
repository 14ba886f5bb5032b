import { z } from 'zod';

import { Id, Timestamp } from './common.ts';

export const TOKEN_KINDS = ['user', 'registration', 'runner'] as const;
export const TokenKind = z.enum(TOKEN_KINDS);

export const CreateTokenRequest = z.strictObject({
  name: z.string().trim().min(1).max(200),
  /** `user` tokens act on the API; `registration` tokens only let solders register. */
  kind: z.enum(['user', 'registration']).default('user'),
  expires_in_seconds: z
    .number()
    .int()
    .min(60)
    .max(10 * 365 * 24 * 3600)
    .optional(),
});
export type CreateTokenRequest = z.input<typeof CreateTokenRequest>;

export const TokenInfo = z.object({
  id: Id,
  name: z.string(),
  kind: TokenKind,
  runner_id: Id.nullable(),
  created_at: Timestamp,
  last_used_at: Timestamp.nullable(),
  expires_at: Timestamp.nullable(),
  revoked_at: Timestamp.nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

/** Only the answer to creation carries the token itself; it is never shown again. */
export const CreatedToken = TokenInfo.extend({ token: z.string() });
export type CreatedToken = z.infer<typeof CreatedToken>;

export const TokenList = z.object({ items: z.array(TokenInfo), next_cursor: z.null() });
export type TokenList = z.infer<typeof TokenList>;
