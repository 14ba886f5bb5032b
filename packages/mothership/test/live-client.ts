import { ServerMessage } from '@borg/protocol';
import { vi } from 'vitest';
import { type ClientOptions, WebSocket } from 'ws';

/** A real `ws` client of a real mothership's `/ws`, for the WebSocket tests. */

export const TIMEOUT_MS = 5_000;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connected client that keeps every message the server sent, in order. */
export class LiveClient {
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.received.push(ServerMessage.parse(JSON.parse(data.toString())));
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message received (or arriving within the timeout) that matches; it is not consumed. */
  waitFor<T extends ServerMessage>(match: (m: ServerMessage) => m is T, what: string): Promise<T>;
  waitFor(match: (m: ServerMessage) => boolean, what: string): Promise<ServerMessage>;
  waitFor(match: (m: ServerMessage) => boolean, what: string): Promise<ServerMessage> {
    return vi.waitFor(
      () => {
        const found = this.received.find(match);
        if (found) return found;
        throw new Error(`no ${what} within ${TIMEOUT_MS} ms; got ${JSON.stringify(this.received.map((m) => m.type))}`);
      },
      { timeout: TIMEOUT_MS, interval: 10 },
    );
  }

  /** Subscribes and waits for the acknowledgement. */
  async subscribe(...topics: string[]): Promise<void> {
    const count = this.received.length;
    this.send({ type: 'subscribe', topics });
    await this.waitFor((m) => m.type === 'subscribed' && this.received.indexOf(m) >= count, `subscribed to ${topics}`);
  }

  /**
   * A ping answered proves the server handled everything sent before it, and that every event
   * it published before answering has already arrived (one socket delivers in order).
   */
  async roundTrip(): Promise<void> {
    const count = this.received.length;
    this.send({ type: 'ping' });
    await this.waitFor((m) => m.type === 'pong' && this.received.indexOf(m) >= count, 'pong');
  }

  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) {
      this.socket.close();
      await this.closed;
    }
  }
}

export type Upgrade = { opened: true; client: LiveClient } | { opened: false; status: number; body: string };

/** Attempts an upgrade; resolves to the open client or to the HTTP answer that refused it. */
export function upgrade(url: string, options: ClientOptions = {}): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options);
    socket.once('open', () => resolve({ opened: true, client: new LiveClient(socket) }));
    socket.once('unexpected-response', (request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        resolve({ opened: false, status: response.statusCode ?? 0, body });
        request.destroy();
      });
    });
    socket.on('error', reject);
  });
}
