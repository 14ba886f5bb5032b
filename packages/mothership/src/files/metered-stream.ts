import { type Readable, Transform } from 'node:stream';

import { BorgError } from '../errors.ts';
import { OffThreadSha256 } from './hash-thread.ts';

export interface StoredBlob {
  size: number;
  sha256: string;
}

/** The refusal of a file over the upload limit, whether its length was declared or counted. */
export function tooLarge(maxBytes: number): BorgError {
  return new BorgError('PAYLOAD_TOO_LARGE', `the file is larger than the limit of ${maxBytes} bytes`, {
    limit: maxBytes,
  });
}

/**
 * What a stage of an upload or a download may hold before it asks the one before it to wait:
 * enough that reading and writing overlap instead of taking turns a 64 KiB chunk at a time.
 */
export const STREAM_BUFFER_BYTES = 1024 * 1024;

/** What the uploader said its bytes are (a raw upload's `size` and `sha256`); each given is checked. */
export interface ExpectedBytes {
  size?: number;
  sha256?: string;
}

function mismatch(what: string, actual: string | number, expected: string | number): BorgError {
  return new BorgError(
    'VALIDATION_FAILED',
    `the body's ${what} is ${actual}, but the request said ${expected}; nothing was kept`,
    { [what]: actual, [`expected_${what}`]: expected },
  );
}

/**
 * Counts and hashes the bytes of an upload as they pass, whatever store they go to, the hash on
 * a worker thread (OffThreadSha256). It fails the stream (so the store keeps nothing) past
 * maxBytes, and at the end when the multipart parser cut the source short at its own limit (a
 * truncated upload is an error, never a short file) or when the bytes are not what `expected`
 * says. Because the failure comes before the stream ends, a store that commits only at the end
 * of the stream never commits a blob that broke a rule.
 */
export function meterUpload(
  source: Readable,
  maxBytes: number,
  expected: ExpectedBytes = {},
): { meter: Transform; result: () => StoredBlob } {
  const hash = new OffThreadSha256();
  let size = 0;
  let sha256 = '';
  const meter = new Transform({
    // Room for many socket reads, so the client keeps sending while the store writes.
    highWaterMark: STREAM_BUFFER_BYTES,
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(tooLarge(maxBytes));
      if (expected.size !== undefined && size > expected.size) return done(mismatch('size', size, expected.size));
      this.push(chunk);
      hash.update(chunk).then(() => done(), done);
    },
    flush(done) {
      if ((source as { truncated?: boolean }).truncated) return done(tooLarge(maxBytes));
      if (expected.size !== undefined && size !== expected.size) return done(mismatch('size', size, expected.size));
      hash.digest().then((hex) => {
        if (expected.sha256 !== undefined && hex !== expected.sha256) {
          return done(mismatch('sha256', hex, expected.sha256));
        }
        sha256 = hex;
        done();
      }, done);
    },
    destroy(error, done) {
      hash.drop();
      done(error);
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
