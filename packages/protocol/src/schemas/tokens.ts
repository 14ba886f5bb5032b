import { z } from 'zod';

import { ROLES } from '../route-definition.ts';
import { Id, LABEL_KEY_PATTERN, MAX_LABELS, Timestamp } from './common.ts';

export const TOKEN_KINDS = ['user', 'registration', 'runner'] as const;
export const TokenKind = z.enum(TOKEN_KINDS);
export type TokenKind = z.infer<typeof TokenKind>;

/** What a user token may do; see ROLES. */
export const RoleName = z.enum(ROLES);

/** Any value of a label, in a registration token's allowed labels. */
export const ANY_LABEL_VALUE = '*';

/**
 * The labels a runner registered with a registration token may carry: each key with one value,
 * a list of values, or `*` for any. A runner may not carry a key missing here, except `os` and
 * `arch` (facts every solder reports) and `gpu=false`, unless the token names them.
 */
export const AllowedLabels = z
  .record(
    z.string().regex(LABEL_KEY_PATTERN, 'label keys are 1-63 letters, digits, "_", ".", "-" or "/"'),
    z.union([z.string().max(253), z.array(z.string().max(253)).min(1).max(64)]),
  )
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);
export type AllowedLabels = z.infer<typeof AllowedLabels>;

export const CreateTokenRequest = z.strictObject({
  name: z.string().trim().min(1).max(200),
  /** `user` tokens act on the API; `registration` tokens only let solders register. */
  kind: z.enum(['user', 'registration']).default('user'),
  /** A user token's role (default `submitter`); never more than the creating token's own. */
  role: RoleName.optional(),
  expires_in_seconds: z
    .number()
    .int()
    .min(60)
    .max(10 * 365 * 24 * 3600)
    .optional(),
  /** Registration tokens only: how many runners it may register (default: no limit). */
  max_uses: z.number().int().min(1).max(1_000_000).optional(),
  /** Registration tokens only: the labels its runners may carry (default: any). */
  allowed_labels: AllowedLabels.optional(),
});
export type CreateTokenRequest = z.input<typeof CreateTokenRequest>;

/** A token as it sees itself (`GET /api/v1/whoami`). */
export const Identity = z.object({
  token_id: Id,
  name: z.string(),
  kind: TokenKind,
  /** Null for runner and registration tokens. */
  role: RoleName.nullable(),
  runner_id: Id.nullable(),
});
export type Identity = z.infer<typeof Identity>;

export const TokenInfo = z.object({
  id: Id,
  name: z.string(),
  kind: TokenKind,
  /** Null for runner and registration tokens. */
  role: RoleName.nullable(),
  runner_id: Id.nullable(),
  /** The token that created this one; null for tokens made at start-up or by registration. */
  created_by: Id.nullable(),
  created_at: Timestamp,
  last_used_at: Timestamp.nullable(),
  expires_at: Timestamp.nullable(),
  revoked_at: Timestamp.nullable(),
  /** Registration tokens: the most runners it may register (null: no limit), and how many it has. */
  max_uses: z.number().int().nullable(),
  uses: z.number().int(),
  /** Registration tokens: the labels its runners may carry (null: any). */
  allowed_labels: AllowedLabels.nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

/** Only the answer to creation carries the token itself; it is never shown again. */
export const CreatedToken = TokenInfo.extend({ token: z.string() });
export type CreatedToken = z.infer<typeof CreatedToken>;

export const TokenList = z.object({ items: z.array(TokenInfo), next_cursor: z.null() });
export type TokenList = z.infer<typeof TokenList>;
