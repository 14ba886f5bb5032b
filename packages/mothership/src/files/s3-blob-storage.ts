import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { BorgError } from '../errors.ts';
import { blobPathOf, type BlobStorage } from './blob-storage.ts';
import { type ExpectedBytes, meterUpload, type StoredBlob } from './metered-stream.ts';
import { describeLocation, type S3Location } from './storage-url.ts';

/** S3's smallest part is 5 MiB and a multipart upload has at most 10,000 parts. */
export const MIN_PART_BYTES = 8 * 1024 ** 2;
const MAX_PARTS = 10_000;
/** Parts in flight per upload: memory per upload stays near partSize × (this + 1). */
const PARTS_IN_FLIGHT = 2;
const STARTUP_CHECK_MS = 10_000;
const PING_MS = 2_000;

/** The fields of an SDK error worth repeating; its message and request are left out (they may carry a key id). */
function describeFailure(error: unknown): string {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  // An answer without a body (HEAD) leaves the SDK nothing but the status: it calls that "Unknown".
  const name = e.code ?? (e.name === 'Unknown' ? undefined : e.name);
  if (!status) return name ?? 'Error';
  return name ? `${name} (HTTP ${status})` : `HTTP ${status}`;
}

/** Why the bucket cannot be used, in words an operator can act on. */
function startupProblem(error: unknown): string {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'CredentialsProviderError') {
    return 'no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a role)';
  }
  if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchBucket') return 'the bucket does not exist';
  if (status === 401 || status === 403) {
    return `the credentials were refused (${describeFailure(error)}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy`;
  }
  if (status === 301 || e.name === 'PermanentRedirect')
    return 'the bucket is in another region: set ?region= in the URL';
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return `no answer within ${STARTUP_CHECK_MS / 1000} s: check the endpoint and the network`;
  }
  return `cannot reach it (${describeFailure(error)}): check the endpoint and the network`;
}

/**
 * Blobs in an S3-compatible bucket, at `<prefix>blobs/<first two>/<key>` (the local store's layout,
 * so `aws s3 sync <storage dir>/blobs s3://bucket/<prefix>blobs` moves a local store as it is).
 *
 * Nothing half-written is ever served: an upload streams into a multipart upload, and the object
 * exists only once S3 completes it, which lib-storage asks for only after the source has ended,
 * and the source ends only after it was hashed and passed the size and truncation checks (the
 * meter fails the stream instead). A failure before that aborts the upload and its parts. A crash
 * of the whole process leaves parts of an incomplete upload, which S3 never serves (a lifecycle
 * rule removes them, docs/operations.md). The key is a fresh UUID that no row names before
 * write() returns, so even a complete object is not reachable until it is whole and recorded.
 */
export class S3BlobStorage implements BlobStorage {
  readonly client: S3Client;

  constructor(readonly location: S3Location) {
    this.client = new S3Client({
      region: location.region,
      endpoint: location.endpoint,
      forcePathStyle: location.forcePathStyle,
      // Many S3-compatible stores reject the SDK's default CRC checksums (aws-chunked bodies); the
      // sha256 Borg computes itself is the integrity check.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
      maxAttempts: 3,
    });
  }

  private keyOf(key: string): string {
    return this.location.prefix + blobPathOf(key);
  }

  /** Fails the start with a clear message when the bucket cannot be used (wrong endpoint, credentials, name). */
  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }), {
        abortSignal: AbortSignal.timeout(STARTUP_CHECK_MS),
      });
    } catch (error) {
      // eslint-disable-next-line preserve-caught-error -- the SDK's error may name the key id; its gist is in the message
      throw new Error(`object storage ${describeLocation(this.location)}: ${startupProblem(error)}`);
    }
  }

  async ping(): Promise<boolean> {
    return this.client
      .send(new HeadBucketCommand({ Bucket: this.location.bucket }), { abortSignal: AbortSignal.timeout(PING_MS) })
      .then(
        () => true,
        () => false,
      );
  }

  async write(key: string, source: Readable, maxBytes: number, expected?: ExpectedBytes): Promise<StoredBlob> {
    const { meter, result } = meterUpload(source, maxBytes, expected);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: this.keyOf(key), Body: meter },
      partSize: Math.max(MIN_PART_BYTES, Math.ceil(maxBytes / MAX_PARTS)),
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false,
    });
    // Settled as soon as the stream ends or fails, whichever way upload.done() goes meanwhile.
    const streamError = pipeline(source, meter).then(
      () => null,
      (e: unknown) => e,
    );
    try {
      await upload.done();
      const failed = await streamError;
      if (failed) throw failed;
      return result();
    } catch (error) {
      // Stop reading the client and let the upload end (aborted, its parts removed).
      meter.destroy();
      const failed = await streamError;
      await upload.abort().catch(() => undefined);
      if (failed instanceof BorgError) throw failed;
      if (error instanceof BorgError) throw error;
      // The client went away first (not the premature close that meter.destroy() above causes).
      const clientGone = failed && (failed as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE';
      if (clientGone && !(error as { $metadata?: unknown }).$metadata) throw failed;
      throw new BorgError('INTERNAL', `object storage could not store the file: ${describeFailure(error)}`);
    }
  }

  async read(key: string): Promise<{ stream: Readable; size: number }> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(key) }),
      );
      return { stream: object.Body as Readable, size: Number(object.ContentLength) };
    } catch (error) {
      const missing = (error as { name?: string }).name === 'NoSuchKey';
      throw Object.assign(new Error(`object storage could not read blob ${key}: ${describeFailure(error)}`), {
        code: missing ? 'ENOENT' : 'EIO',
      });
    }
  }

  /** The size of the blob under `key`, or null when there is none. */
  async sizeOf(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(key) }),
      );
      return Number(head.ContentLength);
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      // eslint-disable-next-line preserve-caught-error -- as in init(): no SDK error travels on
      throw new Error(`object storage could not look up blob ${key}: ${describeFailure(error)}`);
    }
  }

  async remove(key: string): Promise<void> {
    try {
      // Deleting a key that is not there succeeds, as rm with force does.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(key) }));
    } catch (error) {
      // eslint-disable-next-line preserve-caught-error -- as in init(): no SDK error travels on
      throw new Error(`object storage could not delete blob ${key}: ${describeFailure(error)}`);
    }
  }

  close(): void {
    this.client.destroy();
  }
}
