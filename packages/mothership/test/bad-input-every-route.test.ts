import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';

import { beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { servedRoutes } from './served-routes.ts';

/**
 * Test plan 4.B (B1-B3 and the protocol abuse around them) over every route the router serves,
 * read from the router itself, so a route added later is covered without touching this file.
 * Each hostile request must get an answer (no hang), below 500, in Borg's error shape when it is
 * a refusal; afterwards the server must still serve. bad-input.test.ts goes deeper on the
 * routes that take JSON (field-level validation, path traversal, ids, query strings).
 */

const ANSWER_WITHIN_MS = 10_000;

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/**
 * Writes `request` (bytes exactly as given) on a fresh connection and resolves with the first
 * response, as soon as its body is complete; `keepWriting` streams more afterwards, never ending.
 */
function exchange(port: number, request: Buffer, keepWriting?: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) return reject(error);
      const text = received.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: split < 0 ? '' : received.subarray(split + 4).toString('utf8'),
      });
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (length !== undefined && received.length - split - 4 >= Number(length)) finish();
      if (/\r\ntransfer-encoding: *chunked/i.test(text.slice(0, split)) && text.endsWith('0\r\n\r\n')) finish();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while we are still writing a body it refused: read what it said.
      if (received.length > 0 || error.code === 'EPIPE' || error.code === 'ECONNRESET') finish();
      else finish(error);
    });
    socket.on('close', () => finish());
    socket.on('connect', () => {
      socket.write(request);
      if (!keepWriting) return;
      const pump = () => {
        while (!done && !socket.destroyed && socket.write(keepWriting));
      };
      socket.on('drain', pump);
      pump();
    });
  });
}

interface Hostile {
  /** Extra header lines (without the final CRLF). */
  headers?: string[];
  body?: Buffer;
  /** A Content-Length other than the body's (a lie). */
  declaredLength?: number;
  chunkedForever?: boolean;
  query?: string;
  /**
   * What a route that reads bodies (any method but GET) must answer: a refusal, since every
   * such body is bad. GET routes read no body, so for them it is enough not to fail.
   */
  bodyRoutes?: 'refuse';
  /** What every route must answer, when the request is refused before any route is chosen. */
  everyRoute?: number;
  noHost?: boolean;
}

const json = 'Content-Type: application/json';

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The abuse thrown at every route. */
const HOSTILE: Record<string, Hostile> = {
  'truncated JSON': { headers: [json], body: Buffer.from('{"name":'), bodyRoutes: 'refuse' },
  'JSON nested 10,000 deep': {
    headers: [json],
    body: Buffer.from(`${'['.repeat(10_000)}${']'.repeat(10_000)}`),
    bodyRoutes: 'refuse',
  },
  'invalid UTF-8 inside JSON': {
    headers: [json],
    body: Buffer.from([0x7b, 0x22, 0xff, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]),
    bodyRoutes: 'refuse',
  },
  'a UTF-16 charset': { headers: ['Content-Type: application/json; charset=utf-16'], body: Buffer.from('{}') },
  'an unknown media type': {
    headers: ['Content-Type: application/x-evil'],
    body: Buffer.from('boom'),
    bodyRoutes: 'refuse',
  },
  'prototype keys': {
    headers: [json],
    body: Buffer.from('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}'),
    bodyRoutes: 'refuse',
  },
  '1 GiB declared, 64 KiB sent': {
    headers: [json],
    body: Buffer.alloc(64 * 1024, 0x20),
    declaredLength: 1024 ** 3,
    bodyRoutes: 'refuse',
  },
  'chunked without end': { headers: [json], chunkedForever: true, bodyRoutes: 'refuse' },
  'a 64 KiB header': { headers: [`X-Padding: ${'a'.repeat(64 * 1024)}`], everyRoute: 431 },
  'two different Content-Lengths': {
    headers: [json, 'Content-Length: 2', 'Content-Length: 3'],
    body: Buffer.from('{}'),
    everyRoute: 400,
  },
  'multipart without a boundary': {
    headers: ['Content-Type: multipart/form-data'],
    body: Buffer.from('--x\r\n'),
    bodyRoutes: 'refuse',
  },
  'a 300-character multipart boundary': {
    headers: [`Content-Type: multipart/form-data; boundary=${'b'.repeat(300)}`],
    body: Buffer.from('--x\r\n'),
    bodyRoutes: 'refuse',
  },
  'multipart cut off mid-part': {
    headers: ['Content-Type: multipart/form-data; boundary=x'],
    body: Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\npartial'),
    bodyRoutes: 'refuse',
  },
  'no Host header': { headers: [], everyRoute: 400, noHost: true },
  'junk in the query string': { query: '?__proto__[polluted]=1&constructor[prototype][polluted]=1&%ZZ=%00&a=%E0%A4%A' },
};

describe('bad input on every route', () => {
  const borg = useTestMothership();
  let runner: TestRunner;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    runner = await borg().registerRunner();
    const fileId = (await borg().admin.uploadFile(new Blob(['data']), 'data.txt')).id;
    await borg().admin.createJob({ name: 'held', command: 'true', files: [{ file_id: fileId, path: 'data.txt' }] });
    const taskId = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!.id;
    const jobId = (await borg().admin.createJob({ name: 'waiting', command: 'true' })).id;
    const tokenId = (await borg().admin.createToken({ name: 'victim' })).id;
    Object.assign(ids, { jobs: jobId, runners: runner.id, tasks: taskId, files: fileId, tokens: tokenId });
  });

  /** A concrete path for a route template: the real id of the thing its path names. */
  function pathOf(template: string): string {
    if (template === '*') return '/jobs';
    return template.replace(/\/(\w+)\/:id/g, (_, what: string) => `/${what}/${ids[what] ?? randomUUID()}`);
  }

  /** The first token the route lets in (so the abuse reaches its body parser and handler). */
  async function tokenFor(method: string, path: string): Promise<string> {
    for (const token of [borg().adminToken, runner.token, borg().registrationToken]) {
      const { status } = await rawRequest(borg().url, { method, path, token });
      if (status !== 401 && status !== 403) return token;
    }
    return borg().adminToken;
  }

  function build(method: string, path: string, token: string, hostile: Hostile): { request: Buffer; more?: Buffer } {
    const lines = [
      `${method} ${path}${hostile.query ?? ''} HTTP/1.1`,
      ...(hostile.noHost ? [] : ['Host: 127.0.0.1']),
      `Authorization: Bearer ${token}`,
      'Connection: close',
    ];
    lines.push(...(hostile.headers ?? []));
    const body = hostile.body ?? Buffer.alloc(0);
    if (hostile.chunkedForever) {
      lines.push('Transfer-Encoding: chunked');
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      return { request: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), more: frame };
    }
    if (!lines.some((l) => /^content-length:/i.test(l)) && (body.length > 0 || hostile.declaredLength)) {
      lines.push(`Content-Length: ${hostile.declaredLength ?? body.length}`);
    }
    return { request: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]) };
  }

  it('knows the routes it covers', () => {
    const routes = servedRoutes(borg().mothership.app);
    expect(routes.length).toBeGreaterThan(30);
    expect(routes).toContain('POST /api/v1/jobs');
    expect(routes).toContain('POST /api/v1/artifacts/upload');
  });

  it.each(Object.keys(HOSTILE))(
    '%s: every route answers below 500, in the error shape, and the server goes on',
    async (name) => {
      const port = Number(new URL(borg().url).port);
      const seen: string[] = [];
      for (const route of servedRoutes(borg().mothership.app)) {
        const [method, template] = route.split(' ') as [string, string];
        const path = pathOf(template);
        const token = await tokenFor(method, path);
        const { request, more } = build(method, path, token, HOSTILE[name]!);
        // A server that refuses a body and closes while the client is still writing it can reset
        // the connection before the client has read the answer (EPIPE, ECONNRESET on a busy
        // machine): that is the server refusing, as it should, so the request is sent again.
        let answer: RawAnswer = { status: 0, head: '', body: '' };
        for (let attempt = 1; attempt <= 5 && answer.status === 0; attempt++) {
          answer = await exchange(port, request, more).catch((error: Error) => {
            throw new Error(`${route} with ${name}: ${error.message}`);
          });
        }
        const label = `${route} with ${name} → ${answer.head.split('\r\n')[0]} ${answer.body.slice(0, 200)}`;
        seen.push(`${answer.status} ${route}`);
        expect(answer.status, label).toBeGreaterThanOrEqual(200);
        expect(answer.status, label).toBeLessThan(500);
        const hostile = HOSTILE[name]!;
        if (hostile.everyRoute) expect(answer.status, label).toBe(hostile.everyRoute);
        if (hostile.bodyRoutes === 'refuse' && method !== 'GET')
          expect(answer.status, label).toBeGreaterThanOrEqual(400);
        if (answer.status >= 400) {
          expect(parsed(answer.body), label).toEqual({
            error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
          });
          expect(answer.body, label).not.toMatch(/\bat .+\.(ts|js):\d+|SELECT |INSERT |UPDATE /);
        }
        expect(({} as Record<string, unknown>).polluted, label).toBeUndefined();
      }
      expect(seen.length).toBeGreaterThan(30);
      expect((await rawRequest(borg().url, { path: '/healthz' })).status).toBe(200);
      expect((await borg().admin.getJob(ids.jobs!)).name).toBe('waiting');
    },
  );
});
