import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';

import { BorgError } from '../errors.ts';

export interface StoredBlob {
  size: number;
  sha256: string;
}

function tooLarge(maxBytes: number): BorgError {
  return new BorgError('PAYLOAD_TOO_LARGE', `the file is larger than the limit of ${maxBytes} bytes`, {
    limit: maxBytes,
  });
}

/**
 * Counts and hashes the bytes of an upload as they pass, whatever store they go to. It fails the
 * stream (so the store keeps nothing) past maxBytes, and at the end when the multipart parser cut
 * the source short at its own limit: a truncated upload is an error, never a short file. Because
 * the failure comes before the stream ends, a store that commits only at the end of the stream
 * never commits a blob that broke a rule.
 */
export function meterUpload(source: Readable, maxBytes: number): { meter: Transform; result: () => StoredBlob } {
  const hash = createHash('sha256');
  let size = 0;
  let sha256 = '';
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(tooLarge(maxBytes));
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if ((source as { truncated?: boolean }).truncated) return done(tooLarge(maxBytes));
      sha256 = hash.digest('hex');
      done();
    },
  });
  return {
    meter,
    result: () => {
      if (!sha256) throw new Error('the upload was read only in part');
      return { size, sha256 };
    },
  };
}
