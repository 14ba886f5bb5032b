import { randomUUID } from 'node:crypto';

import { ServerMessage, WebSocketCloseCode } from '@borg/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { AUTH_TIMEOUT_MS, MAX_SOCKETS_PER_TOKEN } from '../src/live/websocket-hub.ts';

/**
 * A browser signs in on `/ws` with its first message, `{"type": "auth", "token": …}`, not with
 * the token in the URL: an upgrade without credentials is accepted, and the socket is closed
 * unless that message comes in time with a token a header would be accepted with.
 */

/** A socket opened without credentials, keeping what it receives and how it was closed. */
class Socket {
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.received.push(ServerMessage.parse(JSON.parse(data.toString()))));
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_request, response) => reject(new Error(`refused: ${response.statusCode}`)));
    });
    ws.on('error', () => undefined);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  waitFor(match: (m: ServerMessage) => boolean, what: string): Promise<ServerMessage> {
    return vi.waitFor(
      () => {
        const found = this.received.find(match);
        if (!found) throw new Error(`no ${what}; got ${JSON.stringify(this.received)}`);
        return found;
      },
      { timeout: 5_000, interval: 10 },
    );
  }
}

function suite(
  name: string,
  config: Record<string, unknown>,
  body: (borg: ReturnType<typeof useTestMothership>) => void,
) {
  describe(name, () => {
    const borg = useTestMothership({ config });
    body(borg);
  });
}

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.ws.terminate();
});

async function open(url: string, headers: Record<string, string> = {}): Promise<Socket> {
  const socket = new Socket(new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { headers }));
  sockets.push(socket);
  await socket.opened;
  return socket;
}

/** Opens without credentials and signs in with the first message; resolves once accepted. */
async function signedIn(url: string, token: string): Promise<Socket> {
  const socket = await open(url);
  socket.send({ type: 'auth', token });
  await socket.waitFor((m) => m.type === 'authenticated', 'authenticated');
  return socket;
}

suite('signing in with the first message', {}, (borg) => {
  it('accepts a user token in the first message, and handles a subscription sent right after it', async () => {
    const socket = await open(borg().url);
    // Sent together, without waiting: the subscription is handled once the token is accepted.
    socket.send({ type: 'auth', token: borg().adminToken });
    socket.send({ type: 'subscribe', topics: ['jobs'] });
    await socket.waitFor((m) => m.type === 'subscribed', 'subscribed');
    expect(socket.received[0]).toEqual({ type: 'authenticated' });

    const job = await borg().admin.createJob({
      name: 'seen-live',
      type: 'shell',
      command: 'true',
      labels: { x: randomUUID() },
    });
    await socket.waitFor((m) => m.type === 'job.updated' && m.data.id === job.id, 'job.updated');
  });

  it(`closes a socket that does not sign in within ${AUTH_TIMEOUT_MS / 1000} s with 4401, having sent it nothing`, async () => {
    const socket = await open(borg().url);
    const started = Date.now();
    const closed = await socket.closed;
    expect(closed.code).toBe(WebSocketCloseCode.unauthenticated);
    expect(closed.reason).toContain('"type":"auth"');
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 100);
    expect(socket.received).toEqual([]);
  });

  it('closes with 4401 when the first message is anything but auth, and never subscribes it', async () => {
    for (const first of [{ type: 'subscribe', topics: ['jobs'] }, { type: 'ping' }, 'not json', { type: 'auth' }]) {
      const socket = await open(borg().url);
      socket.send(first);
      expect(await socket.closed, JSON.stringify(first)).toMatchObject({ code: WebSocketCloseCode.unauthenticated });
      expect(socket.received).toEqual([]);
    }
  });

  it('refuses a wrong token with 4401, and runner and registration tokens with 4403', async () => {
    const runner = await borg().registerRunner();
    for (const [token, code] of [
      ['borg_usr_not-a-real-token', WebSocketCloseCode.unauthenticated],
      [runner.token, WebSocketCloseCode.forbidden],
      [borg().registrationToken, WebSocketCloseCode.forbidden],
    ] as const) {
      const socket = await open(borg().url);
      socket.send({ type: 'auth', token });
      expect(await socket.closed).toMatchObject({ code });
      expect(socket.received).toEqual([]);
    }
  });

  it('answers a second auth message with an error and stays open', async () => {
    const socket = await signedIn(borg().url, borg().adminToken);
    socket.send({ type: 'auth', token: borg().adminToken });
    await socket.waitFor((m) => m.type === 'error', 'error');
    socket.send({ type: 'ping' });
    await socket.waitFor((m) => m.type === 'pong', 'pong');
  });

  it('closes a signed-in socket at once when its token is revoked (W5)', async () => {
    const created = await borg().admin.createToken({ name: 'tab', kind: 'user' });
    const socket = await signedIn(borg().url, created.token);
    await borg().admin.revokeToken(created.id);
    expect(await socket.closed).toMatchObject({ code: WebSocketCloseCode.tokenRevoked });
  });

  it(`counts sockets signed in by message toward the ${MAX_SOCKETS_PER_TOKEN} a token may hold (W4)`, async () => {
    const created = await borg().admin.createToken({ name: 'many tabs' });
    const headers = { authorization: `Bearer ${created.token}` };
    for (let i = 0; i < MAX_SOCKETS_PER_TOKEN - 1; i++) await open(borg().url, headers);
    await signedIn(borg().url, created.token); // the 64th
    const refused = await open(borg().url);
    refused.send({ type: 'auth', token: created.token });
    expect(await refused.closed).toMatchObject({ code: WebSocketCloseCode.rateLimited });
    // Sockets still waiting to sign in hold nothing.
    await open(borg().url);
    expect(borg().mothership.hub.socketsOf(created.id)).toBe(MAX_SOCKETS_PER_TOKEN);
  });
});

suite('failed sign-ins count toward the per-address limit (A13)', { authFailuresPerMinute: 3 }, (borg) => {
  it('closes with 4429 once the address has failed too often, while a token that worked still signs in', async () => {
    await signedIn(borg().url, borg().adminToken); // recently valid from now on
    for (let i = 0; i < 3; i++) {
      const socket = await open(borg().url);
      socket.send({ type: 'auth', token: `borg_usr_guess-${i}` });
      expect(await socket.closed).toMatchObject({ code: WebSocketCloseCode.unauthenticated });
    }
    const blocked = await open(borg().url);
    blocked.send({ type: 'auth', token: 'borg_usr_guess-4' });
    const closed = await blocked.closed;
    expect(closed.code).toBe(WebSocketCloseCode.rateLimited);
    expect(closed.reason).toMatch(/too many failed authentications; retry in \d+ s/);
    // HTTP sees the same count: the address is blocked for unproven tokens there too.
    const response = await fetch(`${borg().url}/api/v1/jobs`, {
      headers: { authorization: 'Bearer borg_usr_guess-5' },
    });
    expect(response.status).toBe(429);
    await signedIn(borg().url, borg().adminToken);
  });
});
