import { createHmac } from 'node:crypto';

import { BORG_VERSION, WEBHOOK_HEADERS } from '@borg/protocol';
import type { Agent, request } from 'undici';

import { checkLiteralHost, guardedLookup } from './outbound-address-guard.ts';

/** How much of an answer's body is kept with the attempt, for reading what the receiver said. */
export const RESPONSE_BODY_LIMIT = 2048;
/** How long an attempt's error may be. */
const ERROR_LIMIT = 500;

export interface OutgoingDelivery {
  url: string;
  id: string;
  event: string;
  /** The exact bytes sent, and signed. */
  body: string;
  /** Signs the body; null sends it unsigned. */
  secret: string | null;
}

/** How one attempt went: a 2xx status is delivered, anything else (or none) is not. */
export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

/** `sha256=` and the hex HMAC-SHA256 of the body's bytes with the webhook's secret. */
export function signatureOf(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export interface WebhookSenderOptions {
  /** For the connection, the answer's headers, and the whole exchange each. */
  timeoutMs: number;
  /** BORG_WEBHOOK_ALLOW_PRIVATE: no address rule at all. */
  allowPrivate: boolean;
}

/**
 * Sends deliveries: one POST each, with the event, delivery id and signature headers. It never
 * follows a redirect (a 3xx is an answer like any other non-2xx), gives up after the timeout,
 * and, unless private addresses are allowed, connects only to addresses the rule allows
 * (outbound-address-guard.ts), checked on the resolved address at connect time.
 */
export class WebhookSender {
  /**
   * undici and its agent are loaded at the first delivery: a mothership whose webhooks never
   * fire (most of them, and every idle one) does not hold undici's ~1 MB of code.
   */
  private undici: Promise<{ agent: Agent; request: typeof request }> | null = null;

  constructor(private readonly options: WebhookSenderOptions) {}

  private client() {
    this.undici ??= import('undici').then(({ Agent, request }) => ({
      request,
      agent: new Agent({
        connect: {
          timeout: this.options.timeoutMs,
          ...(this.options.allowPrivate ? {} : { lookup: guardedLookup }),
        },
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        // Each delivery stands alone; sockets kept open to receivers would only pile up.
        keepAliveTimeout: 1_000,
      }),
    }));
    return this.undici;
  }

  async send(delivery: OutgoingDelivery): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const url = new URL(delivery.url);
    // A literal IP address is connected to without a lookup, so the rule is applied to it here.
    const refused = this.options.allowPrivate ? null : checkLiteralHost(url);
    if (refused) return { ok: false, statusCode: null, durationMs: 0, error: refused.message, responseBody: null };

    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `borg-webhooks/${BORG_VERSION}`,
      [WEBHOOK_HEADERS.event]: delivery.event,
      [WEBHOOK_HEADERS.delivery]: delivery.id,
    };
    if (delivery.secret !== null) headers[WEBHOOK_HEADERS.signature] = signatureOf(delivery.body, delivery.secret);

    // The whole exchange is bounded too: a receiver dripping its answer byte by byte must not
    // hold an attempt (and its lease) for ever. A timer, not AbortSignal.timeout(), which can
    // be collected before it fires when nothing else holds it.
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error(`no complete answer within ${this.options.timeoutMs} ms`)),
      this.options.timeoutMs,
    );
    try {
      const { agent, request } = await this.client();
      const response = await request(url, {
        method: 'POST',
        headers,
        body: delivery.body,
        dispatcher: agent,
        signal: abort.signal,
      });
      const responseBody = await readStart(response.body, RESPONSE_BODY_LIMIT);
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return {
        ok,
        statusCode: response.statusCode,
        durationMs: elapsed(),
        error: ok ? null : `the receiver answered ${response.statusCode}`,
        responseBody,
      };
    } catch (error) {
      return { ok: false, statusCode: null, durationMs: elapsed(), error: describeError(error), responseBody: null };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.undici) await (await this.undici).agent.close();
  }
}

/** The first `limit` bytes of a body as text; the rest is not read (the socket is dropped). */
async function readStart(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** A short, single-line account of a failed attempt: the cause's code and message, no stack. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    const text = code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
    if (!parts.includes(text)) parts.push(text);
  }
  const line = (parts.join(' - ') || String(error)).replace(/\s+/g, ' ');
  return line.length > ERROR_LIMIT ? `${line.slice(0, ERROR_LIMIT - 1)}…` : line;
}
