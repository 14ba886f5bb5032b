import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BorgApiError, BorgClient } from '../src/client.ts';
import { httpFetch } from '../src/http-fetch.ts';

/** What the server saw of the last request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
let seen: Seen;
const held: ServerResponse[] = [];

/** A server with one behaviour per path: echo, an error, a redirect, a large body, no answer, a broken body. */
function handle(request: IncomingMessage, response: ServerResponse, body: string): void {
  seen = { method: request.method!, url: request.url!, headers: request.headers, body };
  const path = new URL(request.url!, base).pathname;
  if (path === '/echo') {
    response.writeHead(200, { 'content-type': 'application/json', 'x-extra': 'yes' });
    response.end(JSON.stringify({ method: request.method, body }));
  } else if (path === '/api/v1/jobs/missing') {
    response.writeHead(404, 'Not Found', { 'content-type': 'application/json', 'retry-after': '7' });
    response.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no job missing' } }));
  } else if (path === '/moved') {
    response.writeHead(302, { location: '/echo' });
    response.end();
  } else if (path === '/large') {
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.end(Buffer.alloc(3 * 1024 * 1024, 7));
  } else if (path === '/silent') {
    held.push(response);
  } else if (path === '/broken') {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    response.write('{"partial":');
    setImmediate(() => response.socket?.destroy());
  }
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const response of held) response.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('httpFetch', () => {
  it('sends a GET with its headers and answers as fetch does', async () => {
    const response = await httpFetch(new URL(`${base}/echo?x=1`), { headers: { Authorization: 'Bearer t' } });
    expect(response.ok).toBe(true);
    expect(response.status).toBe(200);
    expect(response.headers.get('X-Extra')).toBe('yes');
    expect(response.headers.get('x-absent')).toBeNull();
    expect(await response.json()).toEqual({ method: 'GET', body: '' });
    expect(seen.url).toBe('/echo?x=1');
    expect(seen.headers.authorization).toBe('Bearer t');
  });

  it('sends a JSON string body with its length, from a string URL and a Headers object', async () => {
    const body = JSON.stringify({ name: 'ünïcode', n: 1 });
    const headers = new Headers({ 'content-type': 'application/json', authorization: 'Bearer h' });
    const response = await httpFetch(`${base}/echo`, { method: 'POST', headers, body });
    expect(await response.json()).toEqual({ method: 'POST', body });
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(seen.headers.authorization).toBe('Bearer h');
  });

  it('gives a non-2xx answer with its status, text and headers', async () => {
    const response = await httpFetch(new URL(`${base}/api/v1/jobs/missing`));
    expect(response.ok).toBe(false);
    expect(response.status).toBe(404);
    expect(response.statusText).toBe('Not Found');
    expect(JSON.parse(await response.text())).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('streams a body as a web stream', async () => {
    const response = await httpFetch(new URL(`${base}/large`));
    let bytes = 0;
    for await (const chunk of Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>)) {
      bytes += (chunk as Buffer).byteLength;
    }
    expect(bytes).toBe(3 * 1024 * 1024);
  });

  it('follows a redirect as fetch does (by handing it to fetch)', async () => {
    const response = await httpFetch(new URL(`${base}/moved`));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ method: 'GET', body: '' });
  });

  it('hands a body that is not a string to fetch', async () => {
    const form = new FormData();
    form.append('field', 'value');
    const response = await httpFetch(new URL(`${base}/echo`), { method: 'POST', body: form });
    expect(response.status).toBe(200);
    expect(seen.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen.body).toContain('value');
  });

  it('rejects as fetch does when nothing listens: TypeError "fetch failed", the socket error as cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const failure = await httpFetch(new URL(`http://127.0.0.1:${port}/echo`)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).message).toBe('fetch failed');
    expect(((failure as TypeError).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('rejects with the signal reason when aborted while waiting for an answer', async () => {
    const failure = await httpFetch(new URL(`${base}/silent`), { signal: AbortSignal.timeout(50) }).catch(
      (error: unknown) => error,
    );
    expect((failure as Error).name).toBe('TimeoutError');
    const aborted = new AbortController();
    aborted.abort(new Error('stopped'));
    await expect(httpFetch(new URL(`${base}/echo`), { signal: aborted.signal })).rejects.toThrow('stopped');
  });

  it('rejects reading a body that breaks off with TypeError "terminated"', async () => {
    const response = await httpFetch(new URL(`${base}/broken`));
    const failure = await response.text().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).message).toBe('terminated');
  });

  it("carries BorgClient's calls and errors", async () => {
    const client = new BorgClient({ baseUrl: base, token: 't', fetch: httpFetch });
    const failure = await client.getJob('missing').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BorgApiError);
    expect(failure).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'no job missing', retryAfterSeconds: 7 });
    expect(seen.headers.authorization).toBe('Bearer t');
  });
});
