import { createHash, randomBytes } from 'node:crypto';

/**
 * Tokens carry their class in a prefix, like Buildkite's and GitLab's, so a leaked one can be
 * recognised by secret scanners and a misused one rejected with a precise message.
 */
export const TOKEN_PREFIX = {
  user: 'borg_usr_',
  registration: 'borg_reg_',
  runner: 'borg_run_',
} as const;

export type TokenKind = keyof typeof TOKEN_PREFIX;

/** 32 random bytes: guessing is hopeless, so a fast hash is enough to store them safely. */
export function generateToken(kind: TokenKind): string {
  return TOKEN_PREFIX[kind] + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Tokens longer than this are rejected before hashing: nothing legitimate is that long. */
export const MAX_TOKEN_LENGTH = 512;
