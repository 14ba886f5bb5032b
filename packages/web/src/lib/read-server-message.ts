import { ServerMessage } from '@borg/protocol';

export type ReadServerMessage = { message: ServerMessage } | { problem: string };

/**
 * A WebSocket frame as a server message, checked against the protocol's schema: the cache is
 * patched only with what the schema accepts, so a frame of another shape (a mothership of
 * another version, a proxy's page) is reported as a problem, never half-applied.
 */
export function readServerMessage(data: string): ReadServerMessage {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { problem: 'not JSON' };
  }
  const parsed = ServerMessage.safeParse(json);
  if (parsed.success) return { message: parsed.data };
  const issue = parsed.error.issues[0];
  return { problem: issue ? `${issue.path.join('.') || 'the message'}: ${issue.message}` : 'not a server message' };
}
