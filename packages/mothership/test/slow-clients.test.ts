import { connect, type Socket } from 'node:net';

import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';
import { MIN_BODY_BYTES_PER_WINDOW } from '../src/http/slow-body-guard.ts';

/**
 * Test plan B4: slow clients cannot hold connections open. The timeout is shortened to one
 * second here (30 s by default, BORG_SLOW_CLIENT_TIMEOUT_MS); what is checked is who closes the
 * connection, not how fast.
 */

const TIMEOUT_MS = 1_000;
/** Long enough for any of the cut-offs below, on a loaded machine. */
const GIVE_UP_MS = 15_000;

interface Outcome {
  closedByServer: boolean;
  answer: string;
}

/** Opens a raw connection, lets `drive` write to it, and reports whether the server closed it. */
function rawConnection(port: number, drive: (socket: Socket) => () => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let stop = () => {};
    const giveUp = setTimeout(() => {
      stop();
      socket.destroy();
      resolve({ closedByServer: false, answer });
    }, GIVE_UP_MS);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      stop();
      resolve({ closedByServer: true, answer });
    });
    socket.on('connect', () => (stop = drive(socket)));
  });
}

/** Writes `text` one byte at a time, every `everyMs`, until stopped. */
function trickle(socket: Socket, text: string, everyMs: number): () => void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer);
    socket.write(text[i++ % text.length]!);
  }, everyMs);
  return () => clearInterval(timer);
}

describe('slow clients (B4)', () => {
  const borg = useTestMothership({ config: { slowClientTimeoutMs: TIMEOUT_MS } });
  const port = () => Number(new URL(borg().url).port);

  it('closes a connection that never sends a request', async () => {
    const outcome = await rawConnection(port(), () => () => {});
    expect(outcome.closedByServer).toBe(true);
  });

  it('closes a connection whose headers trickle in (slowloris) with 408', async () => {
    const outcome = await rawConnection(port(), (socket) => {
      socket.write('GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n');
      return trickle(socket, 'X-Padding: aaaaaaaa\r\n', 50);
    });
    expect(outcome.closedByServer).toBe(true);
    expect(outcome.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection whose body arrives at one byte per tick, with 408 in the error shape', async () => {
    const outcome = await rawConnection(port(), (socket) => {
      socket.write(
        `POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${borg().adminToken}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":"slow","command":"',
      );
      return trickle(socket, 'x', 20);
    });
    expect(outcome.closedByServer).toBe(true);
    expect(outcome.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(outcome.answer).toContain('"code":"REQUEST_TIMEOUT"');
    const { rows } = await borg().db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM jobs WHERE name = 'slow'`,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('lets an upload take many timeouts long while it keeps a real rate', async () => {
    const size = MIN_BODY_BYTES_PER_WINDOW * 12;
    const boundary = 'borgboundary';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="steady.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const body = Buffer.concat([head, Buffer.alloc(size, 0x61), tail]);
    const outcome = await rawConnection(port(), (socket) => {
      socket.write(
        `POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${borg().adminToken}\r\n` +
          `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n` +
          'Connection: close\r\n\r\n',
      );
      // Four windows' minimum per window, in slices: about three timeouts in all.
      const slice = Math.ceil(body.length / 12);
      let sent = 0;
      const timer = setInterval(
        () => {
          if (socket.destroyed || sent >= body.length) return clearInterval(timer);
          socket.write(body.subarray(sent, sent + slice));
          sent += slice;
        },
        Math.floor(TIMEOUT_MS / 4),
      );
      return () => clearInterval(timer);
    });
    expect(outcome.answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(outcome.answer).toContain(`"size":${size}`);
    // Nothing bounds a whole request: a 10 GiB upload over a slow link may take an hour.
    expect(borg().mothership.app.server.requestTimeout).toBe(0);
  });

  it('keeps a long-poll open past the timeout, since it sends no body', async () => {
    const runner = await borg().registerRunner();
    const started = performance.now();
    const response = await rawRequest(borg().url, {
      path: `/api/v1/runners/${runner.id}/tasks/next?wait=3`,
      token: runner.token,
    });
    expect(response.status).toBe(204);
    expect(performance.now() - started).toBeGreaterThan(2 * TIMEOUT_MS);
  });

  it('goes on serving after all of that', async () => {
    expect((await rawRequest(borg().url, { path: '/healthz' })).status).toBe(200);
    expect((await borg().admin.listJobs()).items).toEqual([]); // the one job tried here was trickled and cut off
  });
});
