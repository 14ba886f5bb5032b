import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

import { ERROR_STATUS, type ErrorCode } from '@borg/protocol';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

import type { DatabaseHealth } from '../db/database-health.ts';
import { isDatabaseUnavailable } from '../db/database-health.ts';
import { BorgError } from '../errors.ts';
import { presentedCredential } from './rate-limits.ts';

/** Fastify's own error codes, translated into Borg's. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FIELDS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

interface ErrorReply {
  status: number;
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export function toErrorReply(error: FastifyError | Error, health: DatabaseHealth): ErrorReply {
  if (error instanceof BorgError) {
    return { status: error.status, code: error.code, message: error.message, details: error.details };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((v) => ({
      path: `${error.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}`,
      message: v.message ?? 'is invalid',
    }));
    const first = issues[0];
    return {
      status: 400,
      code: 'VALIDATION_FAILED',
      message: first ? `${first.path}: ${first.message}` : 'the request is invalid',
      details: { issues },
    };
  }
  const fastifyCode = (error as FastifyError).code;
  const mapped = fastifyCode ? FASTIFY_CODES[fastifyCode] : undefined;
  if (mapped) return { status: ERROR_STATUS[mapped], code: mapped, message: error.message };
  if (error instanceof SyntaxError || (error as { status?: number }).status === 400) {
    return { status: 400, code: 'INVALID_JSON', message: `the body is not valid JSON: ${error.message}` };
  }
  if (isDatabaseUnavailable(error)) {
    health.noteFailure();
    return { status: 503, code: 'DATABASE_UNAVAILABLE', message: 'the database is unavailable; retry shortly' };
  }
  // 40001 (serialization failure) and 40P01 (deadlock): PostgreSQL rolled the transaction back
  // whole, so the request can simply be sent again. The database is healthy: no failure noted,
  // which would hold the reaper back for a window.
  const sqlState = String((error as { code?: unknown }).code);
  if (sqlState === '40001' || sqlState === '40P01') {
    return {
      status: 503,
      code: 'DATABASE_CONFLICT',
      message: 'this request collided with another one in the database and was rolled back; retry it',
    };
  }
  // SQLSTATE class 22 (data exception) means a value from the request that the database cannot
  // take: a NUL in a name (22021, 22P05), an id that is no UUID (22P02), a forged cursor's time
  // (22007). It is the client's mistake, so 400, without echoing the database's own message.
  if (/^22[0-9A-Z]{3}$/.test(String((error as { code?: unknown }).code))) {
    return {
      status: 400,
      code: 'VALIDATION_FAILED',
      message: 'the request holds a value that cannot be stored (a NUL character, a malformed id or time, …)',
    };
  }
  // The multipart parser (busboy) throws plain errors for a body the client got wrong: no or a
  // bad boundary, or data that ends mid-part. They are the client's 400, not a 500.
  const malformed = malformedMultipart(error);
  if (malformed) return { status: 400, code: 'VALIDATION_FAILED', message: malformed };
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return { status, code: status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED', message: error.message };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error; the mothership log has the details' };
}

/** The most body left unread that an error answer reads and drops rather than closing the connection. */
const DRAIN_LIMIT_BYTES = 256 * 1024;
const DRAIN_TIMEOUT_MS = 2_000;

/** Reads and drops the rest of a request body of a small, declared length; false when it did not. */
function drainedSmallBody(raw: IncomingMessage): Promise<boolean> {
  const length = Number(raw.headers['content-length']);
  if (!Number.isFinite(length) || length > DRAIN_LIMIT_BYTES || raw.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (drained: boolean) => {
      clearTimeout(timer);
      raw.off('end', onEnd).off('close', onClose).off('error', onClose);
      resolve(drained);
    };
    const onEnd = () => done(true);
    const onClose = () => done(raw.complete);
    const timer = setTimeout(() => done(false), DRAIN_TIMEOUT_MS);
    raw.on('end', onEnd).on('close', onClose).on('error', onClose);
    raw.resume();
  });
}

/** One error shape for every failure, and no stack trace or SQL ever in a response. */
export function installErrorHandling(app: FastifyInstance, health: DatabaseHealth): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const { status, code, message, details } = toErrorReply(error, health);
    // A shed long-poll is the server protecting itself, not a failure: logged once per burst by its shedder.
    if (status >= 500 && code !== 'OVERLOADED') request.log.error({ err: error }, 'request failed');
    if (status === 503) reply.header('retry-after', code === 'OVERLOADED' ? String(retryAfterOf(details)) : '2');
    // An error before the request body was read to its end (a refused or failed upload) leaves
    // the rest of the body on the connection. A small rest is read and dropped first: a client
    // still sending it when the connection closed would see a broken pipe instead of this
    // answer (Node 24's fetch does). A large one is not worth reading: the connection closes
    // after this answer, so a keep-alive client's next request does not wait behind its bytes.
    if (!request.raw.complete && !(await drainedSmallBody(request.raw))) reply.header('connection', 'close');
    if (status === 429) reply.header('retry-after', String(retryAfterOf(details)));
    // RFC 6750 section 3: a token that was sent and refused is named "invalid_token" (revoked,
    // expired or unknown alike, so the answer tells a guesser nothing); no token gets the bare scheme.
    if (status === 401) {
      reply.header('www-authenticate', presentedCredential(request) ? 'Bearer error="invalid_token"' : 'Bearer');
    }
    return reply.code(status).send({ error: { code, message, ...(details === undefined ? {} : { details }) } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );
}

function malformedMultipart(error: Error): string | null {
  if (/^(Multipart: Boundary not found|Boundary required|The needle cannot)/.test(error.message)) {
    return 'the multipart Content-Type needs a boundary of 1 to 70 characters (RFC 2046)';
  }
  if (/unexpected end of multipart data/i.test(error.message)) {
    return 'the multipart body ended before its closing boundary';
  }
  return null;
}

function retryAfterOf(details: unknown): number {
  const seconds = (details as { retry_after_seconds?: unknown } | undefined)?.retry_after_seconds;
  return typeof seconds === 'number' && seconds > 0 ? seconds : 60;
}

/**
 * Answers a request Node's HTTP parser refused (Fastify's `clientErrorHandler`): too slow
 * headers (408), too large headers (431), anything malformed (400), then closes the
 * connection, whose state can no longer be trusted.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'REQUEST_TIMEOUT', 'the request headers did not arrive in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HEADERS_TOO_LARGE', 'the request headers are larger than the 16 KiB allowed']
        : [400, 'VALIDATION_FAILED', 'the request is not valid HTTP/1.1'];
  if (socket.writable) {
    const body = JSON.stringify({ error: { code, message } });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
