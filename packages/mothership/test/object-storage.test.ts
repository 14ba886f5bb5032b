import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';

import { BorgApiError, BorgClient } from '@borg/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, ENGINE, type TestDatabase } from '../../../test/test-database.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { S3RVER_KEY, TestObjectStore } from '../../../test/test-object-store.ts';
import { loadConfig, storageDirOf } from '../src/config.ts';
import { blobPathOf } from '../src/files/blob-storage.ts';
import { migrateStorage, type MigrationReport } from '../src/files/migrate-storage.ts';
import { MIN_PART_BYTES } from '../src/files/s3-blob-storage.ts';
import { parseStorageUrl } from '../src/files/storage-url.ts';
import { type Mothership, startMothership } from '../src/mothership.ts';

/**
 * Files and artifacts in an S3-compatible bucket (BORG_STORAGE_URL), against s3rver on loopback.
 * files.test.ts runs the whole file and artifact suite on both stores; this file covers what is
 * the bucket's own: streaming past the multipart part size in bounded memory, nothing left by an
 * upload cut short, two replicas sharing a bucket, the startup check, /readyz, and credentials
 * kept out of every message.
 */

/** A secret key no message may ever contain (s3rver does not check V4 signatures, so any value works). */
const SECRET = `borg-test-secret-${randomBytes(12).toString('hex')}`;
const MiB = 1024 ** 2;

let store: TestObjectStore;
beforeAll(async () => {
  store = await TestObjectStore.start();
  process.env.AWS_SECRET_ACCESS_KEY = SECRET;
  process.env.AWS_SESSION_TOKEN = `${SECRET}-session`;
});
afterAll(async () => {
  await store?.close();
});

const ADMIN_TOKEN = `test-admin-${randomBytes(16).toString('hex')}`;

/** A mothership on its own (embedded) database and data directory, for startup cases. */
async function startOn(
  storageUrl: string,
  options: { logger?: pino.Logger; maxUploadBytes?: number; took?: { ms: number } } = {},
): Promise<{ mothership: Mothership; database: TestDatabase }> {
  const database = await createTestDatabase();
  const started = performance.now();
  try {
    const mothership = await startMothership(
      loadConfig(
        {
          host: '127.0.0.1',
          port: 0,
          databaseUrl: database.databaseUrl,
          dataDir: database.dataDir,
          storageUrl,
          adminToken: ADMIN_TOKEN,
          maxUploadBytes: options.maxUploadBytes,
          logLevel: 'silent',
        },
        {},
      ),
      { maintenance: false, scheduler: false, logger: options.logger },
    );
    return { mothership, database };
  } catch (error) {
    await database.drop();
    throw error;
  } finally {
    if (options.took) options.took.ms = performance.now() - started;
  }
}

/** Bytes a pino logger wrote, to search for secrets. */
function capturedLog(): { logger: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => lines.join('') };
}

describe('files in an S3 bucket', () => {
  const config: Record<string, unknown> = { maxUploadBytes: 512 * MiB };
  beforeAll(() => {
    config.storageUrl = store.url(`big-${randomUUID()}`);
  });
  const borg = useTestMothership({ config });
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-s3-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const prefix = () => parseStorageUrl(borg().services.config.storageUrl!).prefix;

  it('streams a file of many multipart parts in and out without holding it in memory', async () => {
    const size = 200 * MiB; // 25 parts of 8 MiB
    expect(size).toBeGreaterThan(20 * MIN_PART_BYTES);
    const path = join(dir, 'sparse.bin');
    await writeFile(path, '');
    await truncate(path, size); // a sparse file: 200 MiB of zeros, no disk written
    const expected = createHash('sha256');
    for (let left = size; left > 0; left -= MiB) expected.update(Buffer.alloc(Math.min(MiB, left)));
    const sha256 = expected.digest('hex');

    global.gc?.();
    const before = process.memoryUsage();
    let peakBuffers = before.arrayBuffers;
    let peakRss = before.rss;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
      peakRss = Math.max(peakRss, now.rss);
    }, 5);
    try {
      const info = await borg().admin.uploadFile(await openAsBlob(path), 'sparse.bin', { onChunk: () => undefined });
      expect(info).toMatchObject({ size, sha256 });

      const response = await borg().admin.downloadFile(info.id);
      expect(response.headers.get('content-length')).toBe(String(size));
      const got = createHash('sha256');
      let received = 0;
      for await (const chunk of Readable.fromWeb(response.body! as never) as AsyncIterable<Buffer>) {
        got.update(chunk);
        received += chunk.length;
      }
      expect(received).toBe(size);
      expect(got.digest('hex')).toBe(sha256);
    } finally {
      clearInterval(sampler);
    }
    // The client, the mothership and s3rver all run in this process. Live buffers are the measure
    // (as in the client's upload test): the mothership holds a part being filled and two in
    // flight (8 MiB each), the client's streamed body up to ~64 MiB, never the 200 MiB file.
    // RSS is printed, not asserted: freed parts return to the system when the allocator likes.
    const buffersMiB = (peakBuffers - before.arrayBuffers) / MiB;
    const rssMiB = (peakRss - before.rss) / MiB;
    console.log(`200 MiB through S3: peak +${buffersMiB.toFixed(0)} MiB of buffers, +${rssMiB.toFixed(0)} MiB RSS`);
    expect(buffersMiB).toBeLessThan(128);
    expect((await store.keys(prefix())).length).toBe(1);
  }, 120_000);

  it('keeps no object of an upload the client cuts off halfway, and no file row', async () => {
    const path = join(dir, 'cut.bin');
    await writeFile(path, '');
    await truncate(path, 64 * MiB);
    const before = await store.keys(prefix());
    const rows = await borg().db.query('SELECT id FROM files');
    const abort = new AbortController();
    let sent = 0;
    await expect(
      borg().admin.uploadFile(await openAsBlob(path), 'cut.bin', {
        signal: abort.signal,
        onChunk: (chunk) => {
          sent += chunk.length;
          if (sent > 3 * MIN_PART_BYTES) abort.abort(); // parts already uploaded
        },
      }),
    ).rejects.toThrow();
    // The server notices the cut, aborts the multipart upload and stores nothing; meanwhile
    // (and after) no object is listed that a download could serve.
    await expect.poll(async () => (await borg().db.query('SELECT id FROM files')).rows.length).toBe(rows.rows.length);
    expect(await store.keys(prefix())).toEqual(before);
  });

  it('refuses a file over the limit found only after several parts were sent (413), leaving no object', async () => {
    const limited = await startOn(store.url(`limit-${randomUUID()}`), { maxUploadBytes: 3 * MIN_PART_BYTES });
    const limitedPrefix = parseStorageUrl(limited.mothership.services.config.storageUrl!).prefix;
    try {
      const path = join(dir, 'over.bin');
      await writeFile(path, '');
      await truncate(path, 5 * MIN_PART_BYTES);
      const url = await limited.mothership.listen();
      const error = await new BorgClient({ baseUrl: url, token: ADMIN_TOKEN })
        .uploadFile(await openAsBlob(path), 'over.bin', { onChunk: () => undefined })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BorgApiError);
      expect((error as BorgApiError).code).toBe('PAYLOAD_TOO_LARGE');
      expect(await store.keys(limitedPrefix)).toEqual([]);
    } finally {
      await limited.mothership.close();
      await limited.database.drop();
    }
  });
});

describe('a bucket that goes away mid-upload', () => {
  it('answers 500 naming the failure, and keeps no row and no object', async () => {
    // A TCP relay in front of s3rver, so the bucket can vanish without stopping s3rver itself.
    const sockets = new Set<Socket>();
    const target = new URL(store.endpoint);
    const relay = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const { port } = relay.address() as { port: number };
    const prefix = `vanish-${randomUUID()}`;
    const url = store.url(prefix).replace(/127\.0\.0\.1%3A\d+/, `127.0.0.1%3A${port}`);
    const { mothership, database } = await startOn(url);
    try {
      const base = await mothership.listen();
      let sent = 0;
      const outcome = await new BorgClient({ baseUrl: base, token: ADMIN_TOKEN })
        .uploadFile(new Blob([randomBytes(6 * MIN_PART_BYTES)]), 'vanishing.bin', {
          onChunk: (chunk) => {
            sent += chunk.length;
            if (sent > 2 * MIN_PART_BYTES && relay.listening) {
              relay.close();
              for (const s of sockets) s.destroy();
            }
          },
        })
        .catch((e: unknown) => e);
      expect(outcome).toBeInstanceOf(BorgApiError);
      expect((outcome as BorgApiError).code).toBe('INTERNAL');
      expect((outcome as BorgApiError).message).toMatch(/object storage could not store the file/);
      expect((await mothership.db.query('SELECT id FROM files')).rows).toEqual([]);
      expect((await store.keys(`${prefix}/blobs/`)).length).toBe(0);
    } finally {
      relay.close();
      for (const s of sockets) s.destroy();
      await mothership.close();
      await database.drop();
    }
  });
});

describe('the startup check of the bucket', () => {
  it('starts, and /readyz says whether the bucket answers (without taking the replica out)', async () => {
    const own = await TestObjectStore.start('readyz-bucket');
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    const { mothership, database } = await startOn(own.url('r'));
    try {
      const url = await mothership.listen();
      const ready = async () => (await fetch(`${url}/readyz`)).json();
      expect(await ready()).toEqual({ ok: true, database: true, migrations: true, storage: true });
      await own.close();
      expect(await ready()).toEqual({ ok: true, database: true, migrations: true, storage: false });
    } finally {
      await mothership.close();
      await database.drop();
    }
  });

  const refusedPort = async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  };

  it.each([
    [
      'an endpoint nothing answers at',
      async () => store.url('x').replace(/127\.0\.0\.1%3A\d+/, `127.0.0.1%3A${await refusedPort()}`),
      /cannot reach it \(ECONNREFUSED\): check the endpoint/,
    ],
    [
      'a bucket that does not exist',
      async () => store.url('x', 'no-such-bucket'),
      /s3:\/\/no-such-bucket\/x\/ at http:\/\/127\.0\.0\.1:\d+: the bucket does not exist/,
    ],
  ])('fails fast and says why on %s', async (_name, url, message) => {
    const log = capturedLog();
    const took = { ms: 0 };
    const error = (await startOn(await url(), { logger: log.logger, took }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(message);
    expect(took.ms).toBeLessThan(5_000);
    for (const text of [error.message, String(error.stack), log.text()]) expect(text).not.toContain(SECRET);
  });

  it('fails fast on credentials the store refuses, naming neither the key id nor the secret', async () => {
    const keyId = `AKIABORGTEST${randomBytes(6).toString('hex').toUpperCase()}`;
    process.env.AWS_ACCESS_KEY_ID = keyId;
    const log = capturedLog();
    try {
      const error = (await startOn(store.url('x'), { logger: log.logger }).catch((e: unknown) => e)) as Error;
      expect(error.message).toMatch(/the credentials were refused \(.*HTTP 403\): check AWS_ACCESS_KEY_ID/);
      for (const text of [error.message, String(error.stack), log.text()]) {
        expect(text).not.toContain(keyId);
        expect(text).not.toContain(SECRET);
      }
    } finally {
      process.env.AWS_ACCESS_KEY_ID = S3RVER_KEY;
    }
  });

  it('refuses a URL with credentials in it, without repeating them', () => {
    const error = (() => {
      try {
        loadConfig({ storageUrl: `s3://AKIA:${SECRET}@bucket/p` }, {});
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/BORG_STORAGE_URL: must not hold credentials; set AWS_ACCESS_KEY_ID/);
    expect(error?.message).not.toContain(SECRET);
    expect(() => loadConfig({ storageUrl: 's3://bucket/p?endpoint=ftp://x' }, {})).toThrow(/not http\(s\)/);
    expect(() => loadConfig({ storageUrl: 's3://bucket/p?regoin=eu' }, {})).toThrow(/unknown option "regoin"/);
  });
});

/**
 * Two replicas on one PostgreSQL database, each with its own data directory, sharing a bucket: the
 * deployment BORG_STORAGE_URL exists for (no shared file system). PostgreSQL only, as in
 * replicas.test.ts: the embedded engine belongs to one process.
 */
describe.skipIf(ENGINE !== 'postgres')('two replicas sharing a bucket', () => {
  const config: Record<string, unknown> = {};
  beforeAll(() => {
    config.storageUrl = store.url(`replicas-${randomUUID()}`);
  });
  const borg = useTestMothership({ config }); // replica A
  let b: Mothership;
  let bUrl = '';
  let bDir = '';

  beforeAll(async () => {
    bDir = await mkdtemp(join(tmpdir(), 'borg-s3-replica-b-'));
    b = await startMothership(
      loadConfig(
        {
          host: '127.0.0.1',
          port: 0,
          databaseUrl: borg().database.databaseUrl,
          dataDir: bDir,
          storageUrl: borg().services.config.storageUrl,
          adminToken: borg().adminToken,
          logLevel: 'silent',
        },
        {},
      ),
      { maintenance: false, scheduler: false },
    );
    bUrl = await b.listen();
  });
  afterAll(async () => {
    await b?.close();
    if (bDir) await rm(bDir, { recursive: true, force: true });
  });

  it('serve through B a file uploaded through A, and an artifact the other way', async () => {
    const bytes = randomBytes(MIN_PART_BYTES + 12_345);
    const info = await borg().admin.uploadFile(new Blob([bytes]), 'shared.bin');
    const onB = new BorgClient({ baseUrl: bUrl, token: borg().adminToken });
    const got = Buffer.from(await (await onB.downloadFile(info.id)).arrayBuffer());
    expect(Buffer.compare(got, bytes)).toBe(0);

    const runner = await borg().registerRunner();
    await borg().admin.createJob({ name: 'makes output', command: 'true' });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    const output = randomBytes(70_000);
    const onBAsRunner = new BorgClient({ baseUrl: bUrl, token: runner.token });
    const artifact = await onBAsRunner.uploadArtifact(task.id, 'out/result.bin', new Blob([output]));
    const back = Buffer.from(await (await borg().admin.downloadFile(artifact.file_id)).arrayBuffer());
    expect(Buffer.compare(back, output)).toBe(0);
  });
});

describe('borg mothership migrate-storage', () => {
  const borg = useTestMothership(); // on the storage directory

  it('copies every file into the bucket, checked by sha256, skips what is there, and reports a damaged one', async () => {
    const contents = [randomBytes(MIN_PART_BYTES + 1), randomBytes(1000), randomBytes(5000)];
    const infos = [];
    for (const [i, bytes] of contents.entries()) infos.push(await borg().admin.uploadFile(new Blob([bytes]), `f${i}`));
    // One blob damaged on disk after its upload: same size, one byte changed.
    const damaged = join(storageDirOf(borg().services.config), blobPathOf(infos[2]!.id));
    const bytes = await readFile(damaged);
    bytes[0] = bytes[0]! ^ 0xff;
    await writeFile(damaged, bytes);

    const storageUrl = store.url(`migrated-${randomUUID()}`);
    const reports: MigrationReport[] = [];
    const migrate = async () => {
      reports.push(await migrateStorage({ ...borg().services.config, storageUrl }, storageUrl, () => undefined));
    };
    await borg().restart({ whileDown: migrate });
    await borg().restart({ whileDown: migrate, config: { storageUrl } });
    expect(reports[0]).toMatchObject({ copied: 2, present: 0, failed: [{ id: infos[2]!.id }] });
    expect(reports[0]!.failed[0]!.reason).toMatch(/not the recorded/);
    // Run again: nothing copied twice, the damaged one still refused.
    expect(reports[1]).toMatchObject({ copied: 0, present: 2, failed: [{ id: infos[2]!.id }] });
    expect(await store.keys(parseStorageUrl(storageUrl).prefix)).toHaveLength(2);

    // Served from the bucket now.
    expect(borg().services.config.storageUrl).toBe(storageUrl);
    for (const i of [0, 1]) {
      const got = Buffer.from(await (await borg().admin.downloadFile(infos[i]!.id)).arrayBuffer());
      expect(Buffer.compare(got, contents[i]!)).toBe(0);
    }
  });
});
