import { type Readable, Transform } from 'node:stream';

import type { BlobStorage, StoredBlob } from '../../../packages/mothership/src/files/blob-storage.ts';

/**
 * A BlobStorage whose disk "fills up": once `bytesLeft` bytes have been written in all, the
 * next write fails with ENOSPC from inside the stream, as a full file system fails a write().
 * The real storage sees the error mid-pipeline and cleans up exactly as it would for a real one.
 */
export class FaultyBlobStorage implements BlobStorage {
  /** Bytes that may still be written before ENOSPC; Infinity means no fault. */
  bytesLeft = Infinity;
  written = 0;

  constructor(private readonly inner: BlobStorage) {}

  /** The disk fills after `bytes` more bytes. */
  fillAfter(bytes: number): void {
    this.bytesLeft = bytes;
  }

  heal(): void {
    this.bytesLeft = Infinity;
  }

  write(key: string, source: Readable, maxBytes: number): Promise<StoredBlob> {
    const limited = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        if (chunk.length > this.bytesLeft) {
          this.bytesLeft = 0;
          done(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
          return;
        }
        this.bytesLeft -= chunk.length;
        this.written += chunk.length;
        done(null, chunk);
      },
    });
    source.on('error', (error) => limited.destroy(error));
    // As pipeline() would for the real storage: a failed write destroys the source too.
    limited.on('error', (error) => source.destroy(error));
    // The parser's `truncated` flag must still reach the real storage's check.
    Object.defineProperty(limited, 'truncated', { get: () => (source as { truncated?: boolean }).truncated });
    return this.inner.write(key, source.pipe(limited), maxBytes);
  }

  read(key: string): Promise<{ stream: Readable; size: number }> {
    return this.inner.read(key);
  }

  remove(key: string): Promise<void> {
    return this.inner.remove(key);
  }
}
