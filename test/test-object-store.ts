import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/**
 * s3rver's only account; it checks the access key id (an unknown one is refused with 403) but
 * not V4 signatures, so a wrong secret key cannot be shown refused against it.
 */
export const S3RVER_KEY = 'S3RVER';

/**
 * A real S3-protocol server (s3rver) on loopback, over a temporary directory, with one bucket.
 * Credentials reach the mothership the way they do in production: AWS_* variables, read by the
 * SDK's default chain (test files run in processes of their own, so setting them here is local).
 */
export class TestObjectStore {
  private constructor(
    private readonly server: S3rver,
    private readonly dir: string,
    readonly endpoint: string,
    readonly bucket: string,
  ) {}

  static async start(bucket = 'borg-test'): Promise<TestObjectStore> {
    process.env.AWS_ACCESS_KEY_ID = S3RVER_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_KEY;
    delete process.env.AWS_SESSION_TOKEN;
    const dir = await mkdtemp(join(tmpdir(), 'borg-s3rver-'));
    const server = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: bucket }],
    });
    const { port } = await server.run();
    return new TestObjectStore(server, dir, `http://127.0.0.1:${port}`, bucket);
  }

  /** BORG_STORAGE_URL for this server, under `prefix`. */
  url(prefix: string, bucket = this.bucket): string {
    return `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(this.endpoint)}&region=us-east-1&force_path_style=true`;
  }

  /** Every object key under `prefix`. */
  async keys(prefix: string): Promise<string[]> {
    const client = new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
    });
    try {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys;
    } finally {
      client.destroy();
    }
  }

  async close(): Promise<void> {
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
