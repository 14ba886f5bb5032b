import { Readable } from 'node:stream';

import { MEDIA_TYPE_OF_BODY } from '@borg/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { BorgError } from '../errors.ts';
import type { ExpectedBytes } from '../files/blob-storage.ts';
import { tooLarge } from '../files/metered-stream.ts';

const OCTET_STREAM = MEDIA_TYPE_OF_BODY['octet-stream'];

/** What a route's schema says it takes (the route table sets `consumes` for non-JSON bodies). */
function mediaTypesOf(request: FastifyRequest): string[] | undefined {
  return (request.routeOptions.schema as { consumes?: string[] } | undefined)?.consumes;
}

/**
 * `application/octet-stream` bodies go to the routes that take them unread: the handler gets the
 * request stream as its body and streams it to storage. Any other route refuses one (415) before
 * a byte is read.
 */
export function installRawBodies(app: FastifyInstance): void {
  app.addContentTypeParser(OCTET_STREAM, (request, payload, done) => {
    if (mediaTypesOf(request)?.includes(OCTET_STREAM)) return done(null, payload);
    const takes = mediaTypesOf(request)?.join(' or ') ?? 'JSON';
    done(new BorgError('UNSUPPORTED_MEDIA_TYPE', `${request.method} ${request.routeOptions.url} takes ${takes}`));
  });
}

/** Whether a request's body is a raw one, left unread for its handler. */
export function isRawBody(body: unknown): body is Readable {
  return body instanceof Readable;
}

/**
 * The bytes of a raw upload and what they must turn out to be. Refused before a byte is read:
 * a `Content-Length` over the limit (413), or one that differs from the `size` the query gives.
 */
export function rawUpload(
  request: FastifyRequest,
  maxBytes: number,
  declared: ExpectedBytes,
): { source: Readable; expected: ExpectedBytes } {
  const header = request.headers['content-length'];
  const length = header === undefined ? undefined : Number(header);
  if (length !== undefined && length > maxBytes) {
    throw tooLarge(maxBytes);
  }
  if (length !== undefined && declared.size !== undefined && length !== declared.size) {
    throw new BorgError(
      'VALIDATION_FAILED',
      `size says ${declared.size} bytes but the Content-Length is ${length}; send the file's exact size`,
    );
  }
  // A body of no bytes is not parsed at all: the (empty) request itself is the stream.
  const source = isRawBody(request.body) ? request.body : request.raw;
  return { source, expected: { size: declared.size ?? length, sha256: declared.sha256 } };
}
