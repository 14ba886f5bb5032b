import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

import type { WebhookPayload } from '@borg/protocol';

export interface ReceivedDelivery {
  headers: IncomingHttpHeaders;
  /** The body exactly as it arrived. */
  body: string;
  payload: WebhookPayload;
  /** What the receiver answered. */
  answered: number;
}

/**
 * A webhook receiver for tests: a real HTTP server on 127.0.0.1 that keeps every request it is
 * sent and answers 200, or the statuses queued in `answers` first (one each, in order).
 */
export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = [];
  /** Statuses to answer the next requests with, in order; then 200. */
  readonly answers: number[] = [];
  url = '';

  private constructor(private readonly server: Server) {}

  static async start(path = '/hook'): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const answered = receiver.answers.shift() ?? 200;
        receiver.received.push({
          headers: request.headers,
          body,
          payload: JSON.parse(body) as WebhookPayload,
          answered,
        });
        response.writeHead(answered, { 'content-type': 'text/plain' }).end(answered < 300 ? 'ok' : 'not now');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    receiver.url = `http://127.0.0.1:${port}${path}`;
    return receiver;
  }

  /** The deliveries of one event (and, when given, about one object: its data's `id`). */
  of(event: string, id?: string): ReceivedDelivery[] {
    return this.received.filter((d) => d.payload.event === event && (id === undefined || d.payload.data.id === id));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * Checks X-Borg-Signature the way a receiver would: the hex HMAC-SHA256 of the body's bytes with
 * the secret, compared in constant time.
 */
export function signatureMatches(body: string, secret: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
