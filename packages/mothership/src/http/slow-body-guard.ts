import type { FastifyInstance } from 'fastify';

/**
 * The least a request body must deliver in each window. 16 KiB per 30 s (about 550 B/s) is far
 * below any real link, yet a client trickling one byte a second falls under it at once.
 */
export const MIN_BODY_BYTES_PER_WINDOW = 16 * 1024;

const TIMED_OUT = JSON.stringify({
  error: { code: 'REQUEST_TIMEOUT', message: 'the request body arrived too slowly; the connection is closed' },
});

/**
 * Cuts off a client that sends its request body too slowly (B4, "1 byte a second").
 *
 * Node's own `requestTimeout` bounds the whole request, which would also cut a healthy 10 GiB
 * upload over a slow link, so it is off; this guard bounds the rate instead. It reads the
 * socket's byte counter rather than the body stream, so it never competes with the parser
 * for the bytes. A body that stalls because the server stopped reading (backpressure from a
 * slow disk) would trip it too, but only below ~550 B/s.
 */
export function installSlowBodyGuard(app: FastifyInstance, windowMs: number): void {
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    const socket = raw.socket;
    const declared = Number(raw.headers['content-length'] ?? 0);
    // Only requests that carry a body; a long-poll GET has none and may wait its full time.
    if (!(declared > 0 || raw.headers['transfer-encoding'] !== undefined) || !socket) return done();
    let seen = socket.bytesRead;
    const timer = setInterval(() => {
      if (raw.complete || socket.destroyed || reply.raw.writableEnded) return clearInterval(timer);
      const now = socket.bytesRead;
      if (now - seen >= MIN_BODY_BYTES_PER_WINDOW) {
        seen = now;
        return;
      }
      clearInterval(timer);
      request.log.warn({ received: now - seen, windowMs }, 'request body too slow; connection closed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(408, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        reply.raw.end(TIMED_OUT);
      }
      // The rest of the body is not worth waiting for: end the connection, not just the answer.
      socket.destroySoon();
      setTimeout(() => socket.destroy(), 1_000).unref();
    }, windowMs);
    timer.unref();
    reply.raw.once('close', () => clearInterval(timer));
    done();
  });
}
