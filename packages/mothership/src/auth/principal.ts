import type { Role } from '@borg/protocol';

import type { TokenKind } from './token-secret.ts';

/** Who a request acts as: the token it presented, with what that token may do. */
export interface Principal {
  kind: TokenKind;
  tokenId: string;
  /** The token's name, for attribution (a job's `created_by`, the audit log). */
  name: string;
  /** Set for runner tokens: the only runner this token may act as. */
  runnerId: string | null;
  /** Set for user tokens: what the token may do. */
  role: Role | null;
}
