import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';

import type { Artifact, FileInfo } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, type TestMothership, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { TestObjectStore } from '../../../test/test-object-store.ts';
import { storageDirOf } from '../src/config.ts';
import { parseStorageUrl } from '../src/files/storage-url.ts';

/**
 * DESIGN "Semantics" 7 and the API contract's file and artifact routes; test plan B6, B13, A8:
 * bytes come back exactly as sent, hashed, size-limited, always as an inert attachment, and a
 * runner reads only the inputs of a task it holds. Every test runs on both stores: the local
 * directory and an S3-compatible bucket (s3rver on loopback, BORG_STORAGE_URL).
 */

const STORES = ['disk', 's3'] as const;
let objectStore: TestObjectStore | undefined;
afterAll(async () => {
  await objectStore?.close();
});

/** The mothership config of a suite on `kind`: nothing for disk, a fresh prefix of one shared bucket for s3. */
function storeConfig(kind: (typeof STORES)[number]): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  // Registered before useTestMothership's own beforeAll, so the URL is in place when it starts.
  beforeAll(async () => {
    if (kind !== 's3') return;
    objectStore ??= await TestObjectStore.start();
    config.storageUrl = objectStore.url(`files-${randomUUID()}`);
  });
  return config;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function upload(borg: TestMothership, bytes: Uint8Array, name: string, type?: string) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], type ? { type } : {}), name);
  const response = await fetch(`${borg.url}/api/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${borg.adminToken}` },
    body: form,
  });
  return {
    status: response.status,
    body: (await response.json()) as FileInfo & { error?: { code: string; message: string } },
  };
}

async function download(borg: TestMothership, fileId: string, token: string) {
  const response = await fetch(`${borg.url}/api/v1/files/${fileId}/download`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, headers: response.headers, bytes: new Uint8Array(await response.arrayBuffer()) };
}

async function uploadArtifact(borg: TestMothership, token: string, taskId: string, path: string, bytes: Uint8Array) {
  const form = new FormData();
  form.append('task_id', taskId);
  form.append('path', path);
  form.append('file', new Blob([new Uint8Array(bytes)]), 'artifact');
  const response = await fetch(`${borg.url}/api/v1/artifacts/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  return {
    status: response.status,
    body: (await response.json()) as Artifact & { error?: { code: string; message: string } },
  };
}

/**
 * A raw upload (`PUT`, application/octet-stream) to `path` with `query`; a body given as chunks
 * goes chunked (no Content-Length), as a stream of unknown length would.
 */
async function put(
  borg: TestMothership,
  path: '/api/v1/files' | '/api/v1/artifacts/upload',
  query: Record<string, string | number>,
  body: Uint8Array | Uint8Array[],
  options: { token?: string; contentType?: string } = {},
) {
  const url = new URL(borg.url + path);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
  const chunks = Array.isArray(body) ? body : undefined;
  const response = await fetch(url, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${options.token ?? borg.adminToken}`,
      'content-type': options.contentType ?? 'application/octet-stream',
    },
    body: chunks
      ? new ReadableStream({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(chunk);
            controller.close();
          },
        })
      : new Uint8Array(body as Uint8Array),
    duplex: 'half',
  } as RequestInit);
  return {
    status: response.status,
    body: (await response.json()) as FileInfo & Artifact & { error?: { code: string; message: string } },
  };
}

/** Two runners, and a task of a job of its own that the first one holds and runs (`b` holds none). */
async function heldTask(borg: TestMothership, pool: string) {
  const a = await borg.registerRunner({ labels: { pool } });
  const b = await borg.registerRunner({ labels: { pool: `${pool}-b` } });
  await borg.admin.createJob({ name: `produces ${pool}`, command: 'true', labels: { pool } });
  const taskId = (await a.client.nextTasks(a.id, { wait: 0 }))!.items[0]!.id;
  await a.client.reportTaskStatus(taskId, { status: 'running' });
  return { a, b, taskId };
}

/** Rows and blobs that exist, so a refused upload can be shown to leave nothing behind. */
async function stored(borg: TestMothership) {
  const count = async (table: string) =>
    (await borg.db.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${table}`)).rows[0]!.n;
  const rows = { files: await count('files'), artifacts: await count('artifacts') };
  const url = borg.services.config.storageUrl;
  if (url) {
    // In a bucket: blobs under <prefix>blobs/, and nothing else at all (no temporary objects).
    const { prefix } = parseStorageUrl(url);
    const keys = await objectStore!.keys(prefix);
    const blobs = keys.filter((key) => key.startsWith(`${prefix}blobs/`)).length;
    return { ...rows, blobs, tmp: keys.length - blobs };
  }
  const root = storageDirOf(borg.services.config);
  const blobs = (await readdir(join(root, 'blobs'), { recursive: true })).filter((p) => /[0-9a-f-]{36}$/.test(p));
  return { ...rows, blobs: blobs.length, tmp: (await readdir(join(root, 'tmp'))).length };
}

describe.each(STORES)('on %s storage', (kind) => {
  describe('files', () => {
    const borg = useTestMothership({ config: storeConfig(kind) });

    it('come back byte for byte, with the sha256 the upload reported', async () => {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const { status, body: info } = await upload(borg(), bytes, 'weights.bin');
      expect(status).toBe(201);
      expect(info).toMatchObject({ filename: 'weights.bin', size: bytes.length, sha256: sha256(bytes) });
      expect(await borg().admin.getFile(info.id)).toEqual(info);

      const got = await download(borg(), info.id, borg().adminToken);
      expect(got.status).toBe(200);
      expect(Buffer.compare(got.bytes, bytes)).toBe(0);
      expect(got.headers.get('content-length')).toBe(String(bytes.length));
      expect(got.headers.get('x-content-sha256')).toBe(sha256(bytes));
    });

    it('are always served as an inert attachment, whatever type and name they were uploaded with (B13, B6)', async () => {
      const page = new TextEncoder().encode('<html><script>alert(1)</script></html>');
      const cases: Array<[string, string]> = [
        ['x.html', "filename*=UTF-8''x.html"],
        ['rapport final été.svg', "filename*=UTF-8''rapport%20final%20%C3%A9t%C3%A9.svg"],
        ["it's (1).html", "filename*=UTF-8''it%27s%20%281%29.html"],
      ];
      for (const [name, encoded] of cases) {
        const { body: info } = await upload(borg(), page, name, name.endsWith('.svg') ? 'image/svg+xml' : 'text/html');
        expect(info.content_type).toBe('application/octet-stream');
        const got = await download(borg(), info.id, borg().adminToken);
        expect(got.headers.get('content-type')).toBe('application/octet-stream');
        const disposition = got.headers.get('content-disposition')!;
        expect(disposition).toMatch(/^attachment;/);
        expect(disposition).toContain(encoded);
        // The plain filename= fallback cannot be broken out of with a quote.
        expect(disposition).toMatch(/filename="[^"]*";/);
        expect(got.headers.get('x-content-type-options')).toBe('nosniff');
        expect(got.headers.get('content-security-policy')).toMatch(/\bsandbox\b/);
      }
    });

    it('offer a name with double quotes without letting it break out of the header', async () => {
      // Written by hand: FormData would percent-encode the quote before it reached the server.
      const boundary = 'borgboundary';
      const body = [
        `--${boundary}`,
        'Content-Disposition: form-data; name="file"; filename="say \\"hi\\".html"',
        'Content-Type: text/html',
        '',
        '<b>hi</b>',
        `--${boundary}--`,
        '',
      ].join('\r\n');
      const response = await fetch(`${borg().url}/api/v1/files`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${borg().adminToken}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
        body,
      });
      expect(response.status).toBe(201);
      const info = (await response.json()) as FileInfo;
      expect(info.filename).toBe('say "hi".html');
      const disposition = (await download(borg(), info.id, borg().adminToken)).headers.get('content-disposition');
      expect(disposition).toBe(`attachment; filename="say _hi_.html"; filename*=UTF-8''say%20%22hi%22.html`);
    });

    it('keep a disguising name from disguising itself: bidi overrides and control characters are replaced', async () => {
      const { body: info } = await upload(borg(), new Uint8Array([1]), 'invoice\u202Egpj.exe');
      expect(info.filename).toBe('invoice_gpj.exe');
    });

    it('answer 404 in the error shape for a file that does not exist', async () => {
      const got = await download(borg(), '7d0f3f3e-2f4b-4d36-9a57-5f3f0cbbb2a1', borg().adminToken);
      expect(got.status).toBe(404);
      expect(JSON.parse(new TextDecoder().decode(got.bytes))).toMatchObject({ error: { code: 'FILE_NOT_FOUND' } });
    });

    describe('for runners (A8)', () => {
      let a: TestRunner;
      let b: TestRunner;
      let info: FileInfo;
      const bytes = randomBytes(4096);

      beforeAll(async () => {
        a = await borg().registerRunner({ labels: { pool: 'a' } });
        b = await borg().registerRunner({ labels: { pool: 'b' } });
        info = (await upload(borg(), bytes, 'input.bin')).body;
      });

      it('can be read only while the runner holds a task of a job that uses them', async () => {
        await borg().admin.createJob({
          name: 'reads input',
          command: 'true',
          labels: { pool: 'a' },
          files: [{ file_id: info.id, path: 'in/input.bin' }],
        });
        expect((await download(borg(), info.id, a.token)).status).toBe(404);

        const task = (await a.client.nextTasks(a.id, { wait: 0 }))!.items[0]!;
        expect(task.files).toEqual([
          { file_id: info.id, path: 'in/input.bin', filename: 'input.bin', size: bytes.length, sha256: sha256(bytes) },
        ]);
        const held = await download(borg(), info.id, a.token);
        expect(held.status).toBe(200);
        expect(Buffer.compare(held.bytes, bytes)).toBe(0);
        expect((await download(borg(), info.id, b.token)).status).toBe(404);

        await a.client.reportTaskStatus(task.id, { status: 'running' });
        expect((await download(borg(), info.id, a.token)).status).toBe(200);
        await a.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
        const after = await download(borg(), info.id, a.token);
        expect(after.status).toBe(404);
        expect(JSON.parse(new TextDecoder().decode(after.bytes))).toMatchObject({ error: { code: 'FILE_NOT_FOUND' } });
        // People can still read it.
        expect((await download(borg(), info.id, borg().adminToken)).status).toBe(200);
      });
    });

    describe('artifacts', () => {
      let a: TestRunner;
      let b: TestRunner;
      let taskId: string;

      beforeAll(async () => {
        ({ a, b, taskId } = await heldTask(borg(), 'art'));
      });

      it('are stored once per path: same bytes again is acknowledged, different bytes conflict', async () => {
        const bytes = randomBytes(200_000);
        const first = await uploadArtifact(borg(), a.token, taskId, 'out/result.bin', bytes);
        expect(first.status).toBe(201);
        expect(first.body).toMatchObject({
          task_id: taskId,
          path: 'out/result.bin',
          size: bytes.length,
          sha256: sha256(bytes),
        });

        const before = await stored(borg());
        const again = await uploadArtifact(borg(), a.token, taskId, 'out/result.bin', bytes);
        expect(again.status).toBe(200);
        expect(again.body).toEqual(first.body);

        const other = await uploadArtifact(borg(), a.token, taskId, 'out/result.bin', randomBytes(10));
        expect(other.status).toBe(409);
        expect(other.body.error).toMatchObject({ code: 'CONFLICT' });
        // Neither the repeat nor the conflict left a file row or a blob behind.
        expect(await stored(borg())).toEqual(before);

        const listed = await borg().admin.listArtifacts(taskId);
        expect(listed.items).toEqual([first.body]);
        const got = await download(borg(), first.body.file_id, borg().adminToken);
        expect(got.status).toBe(200);
        expect(Buffer.compare(got.bytes, bytes)).toBe(0);
        expect(got.headers.get('content-type')).toBe('application/octet-stream');
      });

      it('are refused from a runner that does not hold the task, with nothing stored', async () => {
        const before = await stored(borg());
        const refused = await uploadArtifact(borg(), b.token, taskId, 'out/intruder.bin', randomBytes(10));
        expect(refused.status).toBe(403);
        expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN' });
        expect(await stored(borg())).toEqual(before);
        expect((await borg().admin.listArtifacts(taskId)).items.map((x) => x.path)).not.toContain('out/intruder.bin');
      });

      it('are refused with 400 when their path would leave the workspace (B6)', async () => {
        const before = await stored(borg());
        for (const path of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', '%2e%2e/x', '\u2025/x', '', '.', 'x\u0000y']) {
          const refused = await uploadArtifact(borg(), a.token, taskId, path, randomBytes(10));
          expect(refused.status, JSON.stringify(path)).toBe(400);
          expect(refused.body.error, JSON.stringify(path)).toMatchObject({ code: 'VALIDATION_FAILED' });
        }
        expect(await stored(borg())).toEqual(before);
      });

      it('need task_id and path before the file part', async () => {
        const form = new FormData();
        form.append('file', new Blob(['early']), 'early.txt');
        form.append('task_id', taskId);
        form.append('path', 'early.txt');
        const response = await fetch(`${borg().url}/api/v1/artifacts/upload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${a.token}` },
          body: form,
        });
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({
          error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('before file') },
        });
      });

      it('are refused once the task has ended (409), and the task list stays as it was', async () => {
        const before = (await borg().admin.listArtifacts(taskId)).items;
        await a.client.reportTaskStatus(taskId, { status: 'succeeded', exit_code: 0 });
        const late = await uploadArtifact(borg(), a.token, taskId, 'out/late.bin', randomBytes(10));
        expect(late.status).toBe(409);
        expect(late.body.error).toMatchObject({ code: 'STALE_TASK' });
        expect((await borg().admin.listArtifacts(taskId)).items).toEqual(before);
      });
    });
  });

  describe('raw uploads (PUT, application/octet-stream)', () => {
    const borg = useTestMothership({ config: storeConfig(kind) });

    it('store the body as the file, byte for byte, with a sha256 and size that are checked when given', async () => {
      // Past the first batch the hash is taken on the hashing thread; under it, on the event loop.
      for (const bytes of [randomBytes(3 * 1024 * 1024 + 17), new TextEncoder().encode('small\n'), new Uint8Array()]) {
        const sent = await borg().admin.putFile(new Blob([new Uint8Array(bytes)]), 'model.bin', {
          sha256: sha256(bytes),
        });
        expect(sent).toMatchObject({ filename: 'model.bin', size: bytes.length, sha256: sha256(bytes) });
        const got = await download(borg(), sent.id, borg().adminToken);
        expect(Buffer.compare(got.bytes, bytes)).toBe(0);
      }
      // Chunked, without a Content-Length; the hash in upper case is the same hash.
      const parts = [randomBytes(700_000), randomBytes(900_000), randomBytes(5)];
      const whole = Buffer.concat(parts);
      const chunked = await put(
        borg(),
        '/api/v1/files',
        { filename: 'parts.bin', size: whole.length, sha256: sha256(whole).toUpperCase() },
        parts,
      );
      expect(chunked.status).toBe(201);
      expect(chunked.body).toMatchObject({ size: whole.length, sha256: sha256(whole) });
    });

    it('hash side by side: uploads at once share the hashing thread and each gets its own sha256', async () => {
      const files = Array.from({ length: 5 }, (_, i) => randomBytes(2 * 1024 * 1024 + i * 333_333));
      const sent = await Promise.all(files.map((bytes, i) => borg().admin.putFile(new Blob([bytes]), `part-${i}.bin`)));
      expect(sent.map((info) => [info.size, info.sha256])).toEqual(files.map((bytes) => [bytes.length, sha256(bytes)]));
    });

    it('refuse a missing or unsafe name, a wrong size or sha256, and the wrong media type, keeping nothing', async () => {
      const bytes = randomBytes(2 * 1024 * 1024);
      const before = await stored(borg());
      const refusals: Array<[string, Awaited<ReturnType<typeof put>>, number, string]> = [
        ['no filename', await put(borg(), '/api/v1/files', {}, bytes), 400, 'filename'],
        ['an empty filename', await put(borg(), '/api/v1/files', { filename: '' }, bytes), 400, 'filename'],
        ['a path', await put(borg(), '/api/v1/files', { filename: 'a/b.bin' }, bytes), 400, 'filename'],
        ['..', await put(borg(), '/api/v1/files', { filename: '..' }, bytes), 400, 'filename'],
        ['encoded ..', await put(borg(), '/api/v1/files', { filename: '%2e%2e' }, bytes), 400, 'filename'],
        ['a control character', await put(borg(), '/api/v1/files', { filename: 'a\u0007b' }, bytes), 400, 'filename'],
        ['a bidi override', await put(borg(), '/api/v1/files', { filename: 'x\u202Etxt.exe' }, bytes), 400, 'filename'],
        ['256 characters', await put(borg(), '/api/v1/files', { filename: 'n'.repeat(256) }, bytes), 400, 'filename'],
        [
          'a size the Content-Length contradicts',
          await put(borg(), '/api/v1/files', { filename: 'x.bin', size: bytes.length + 1 }, bytes),
          400,
          'Content-Length',
        ],
        [
          'a chunked body shorter than its size',
          await put(borg(), '/api/v1/files', { filename: 'x.bin', size: bytes.length + 1 }, [bytes]),
          400,
          `size is ${bytes.length}, but the request said ${bytes.length + 1}`,
        ],
        [
          'a chunked body longer than its size',
          await put(borg(), '/api/v1/files', { filename: 'x.bin', size: 1000 }, [bytes]),
          400,
          'but the request said 1000',
        ],
        [
          'a wrong sha256',
          await put(borg(), '/api/v1/files', { filename: 'x.bin', sha256: sha256(randomBytes(8)) }, bytes),
          400,
          `sha256 is ${sha256(bytes)}`,
        ],
        [
          'a sha256 that is no hash',
          await put(borg(), '/api/v1/files', { filename: 'x', sha256: 'abc' }, bytes),
          400,
          'sha256',
        ],
        [
          'an unknown parameter',
          await put(borg(), '/api/v1/files', { filename: 'x', mode: '777' }, bytes),
          400,
          'mode',
        ],
        [
          'text/plain',
          await put(borg(), '/api/v1/files', { filename: 'x.bin' }, new TextEncoder().encode('hi'), {
            contentType: 'text/plain',
          }),
          415,
          '',
        ],
        [
          'JSON',
          await put(borg(), '/api/v1/files', { filename: 'x.bin' }, new TextEncoder().encode('{"a":1}'), {
            contentType: 'application/json',
          }),
          415,
          'application/octet-stream',
        ],
      ];
      for (const [what, answer, status, mentions] of refusals) {
        expect(answer.status, what).toBe(status);
        expect(answer.body.error?.message, what).toContain(mentions);
      }
      expect(await stored(borg())).toEqual(before);
    });

    it('are refused by routes that take no raw body, and multipart is refused by the raw route', async () => {
      const misdirected = await rawRequest(borg().url, {
        method: 'POST',
        path: '/api/v1/jobs',
        token: borg().adminToken,
        headers: { 'content-type': 'application/octet-stream' },
        body: new TextEncoder().encode('{"name":"x","command":"true"}'),
      });
      expect(misdirected.status).toBe(415);
      expect(misdirected.body).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
      const form = new FormData();
      form.append('file', new Blob(['x']), 'x.bin');
      const multipart = await fetch(`${borg().url}/api/v1/files?filename=x.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${borg().adminToken}` },
        body: form,
      });
      expect(multipart.status).toBe(415);
      expect(await multipart.json()).toMatchObject({
        error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/octet-stream') },
      });
    });

    it('leave nothing behind when the client goes away half way', async () => {
      const before = await stored(borg());
      const socket = connect(Number(new URL(borg().url).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'PUT /api/v1/files?filename=cut.bin HTTP/1.1\r\nHost: borg\r\n' +
          `Authorization: Bearer ${borg().adminToken}\r\nContent-Type: application/octet-stream\r\n` +
          `Content-Length: ${8 * 1024 * 1024}\r\n\r\n`,
      );
      socket.write(randomBytes(3 * 1024 * 1024));
      // Bytes reached the store's temporary file (or the bucket's multipart upload) before the cut.
      if (kind === 'disk') await expect.poll(async () => (await stored(borg())).tmp).toBe(1);
      socket.destroy();
      await expect.poll(() => stored(borg())).toEqual(before);
    });

    describe('of artifacts', () => {
      let a: TestRunner;
      let b: TestRunner;
      let taskId: string;

      beforeAll(async () => {
        ({ a, b, taskId } = await heldTask(borg(), 'raw'));
      });

      it('are stored once per path as the multipart ones are, and checked against the sha256 given', async () => {
        const bytes = randomBytes(1_500_000);
        const first = await a.client.putArtifact(taskId, 'out/model.bin', new Blob([bytes]), { sha256: sha256(bytes) });
        expect(first).toMatchObject({
          task_id: taskId,
          path: 'out/model.bin',
          size: bytes.length,
          sha256: sha256(bytes),
        });
        const before = await stored(borg());
        // The same bytes again: acknowledged (200), the same artifact.
        const again = await put(borg(), '/api/v1/artifacts/upload', { task_id: taskId, path: 'out/model.bin' }, bytes, {
          token: a.token,
        });
        expect(again.status).toBe(200);
        expect(again.body).toEqual(first);

        const refusals: Array<[string, Awaited<ReturnType<typeof put>>, number, string]> = [
          [
            'other bytes at a taken path',
            await put(borg(), '/api/v1/artifacts/upload', { task_id: taskId, path: 'out/model.bin' }, randomBytes(9), {
              token: a.token,
            }),
            409,
            'CONFLICT',
          ],
          [
            'a wrong sha256',
            await put(
              borg(),
              '/api/v1/artifacts/upload',
              { task_id: taskId, path: 'out/other.bin', sha256: sha256(randomBytes(4)) },
              bytes,
              { token: a.token },
            ),
            400,
            'VALIDATION_FAILED',
          ],
          [
            'a path out of the workspace',
            await put(borg(), '/api/v1/artifacts/upload', { task_id: taskId, path: '../x' }, bytes, { token: a.token }),
            400,
            'VALIDATION_FAILED',
          ],
          [
            'no task_id',
            await put(borg(), '/api/v1/artifacts/upload', { path: 'out/x.bin' }, bytes, { token: a.token }),
            400,
            'VALIDATION_FAILED',
          ],
          [
            'a task another runner holds',
            await put(borg(), '/api/v1/artifacts/upload', { task_id: taskId, path: 'out/x.bin' }, bytes, {
              token: b.token,
            }),
            403,
            'FORBIDDEN',
          ],
        ];
        for (const [what, answer, status, code] of refusals) {
          expect(answer.status, what).toBe(status);
          expect(answer.body.error?.code, what).toBe(code);
        }
        expect(await stored(borg())).toEqual(before);
        expect((await borg().admin.listArtifacts(taskId)).items).toEqual([first]);
      });
    });
  });

  describe('the upload size limit', () => {
    const LIMIT = 64 * 1024;
    const borg = useTestMothership({ config: Object.assign(storeConfig(kind), { maxUploadBytes: LIMIT }) });

    it('accepts a file of exactly the limit', async () => {
      const bytes = randomBytes(LIMIT);
      const { status, body } = await upload(borg(), bytes, 'exact.bin');
      expect(status).toBe(201);
      expect(body.sha256).toBe(sha256(bytes));
    });

    it('refuses one byte more with 413 naming the limit, and leaves no row, blob or temp file', async () => {
      const before = await stored(borg());
      const { status, body } = await upload(borg(), randomBytes(LIMIT + 1), 'big.bin');
      expect(status).toBe(413);
      expect(body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining(String(LIMIT)) });
      expect(await stored(borg())).toEqual(before);
      expect((await borg().admin.health()).ok).toBe(true);
    });

    it('refuses a megabyte the same way, without storing any of it', async () => {
      const before = await stored(borg());
      const { status } = await upload(borg(), randomBytes(1024 * 1024), 'bigger.bin');
      expect(status).toBe(413);
      expect(await stored(borg())).toEqual(before);
    });

    it('applies to raw uploads: a Content-Length over it is refused unread, a chunked body once it passes it', async () => {
      const before = await stored(borg());
      const declared = await put(borg(), '/api/v1/files', { filename: 'big.bin' }, randomBytes(LIMIT + 1));
      expect(declared.status).toBe(413);
      expect(declared.body.error).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        message: expect.stringContaining(String(LIMIT)),
      });
      const chunked = await put(borg(), '/api/v1/files', { filename: 'big.bin' }, [randomBytes(LIMIT), randomBytes(1)]);
      expect(chunked.status).toBe(413);
      expect(await stored(borg())).toEqual(before);
      const exact = await put(borg(), '/api/v1/files', { filename: 'exact.bin' }, [randomBytes(LIMIT)]);
      expect(exact.status).toBe(201);
    });

    it('applies to artifacts too', async () => {
      const runner = await borg().registerRunner();
      await borg().admin.createJob({ name: 'big output', command: 'true' });
      const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
      const before = await stored(borg());
      const refused = await uploadArtifact(borg(), runner.token, task.id, 'out/huge.bin', randomBytes(LIMIT + 1));
      expect(refused.status).toBe(413);
      expect(refused.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect(await stored(borg())).toEqual(before);
      expect((await borg().admin.listArtifacts(task.id)).items).toEqual([]);
    });
  });
});
