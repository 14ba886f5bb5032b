import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { fileURLToPath } from 'node:url';

import type { ServerMessage } from '@borg/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';

import { createTestDatabase } from '../../../test/test-database.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import type { Principal } from '../src/auth/principal.ts';
import { redactUrl } from '../src/http/build-app.ts';
import {
  FLOOD_CLOSE_CODE,
  MAX_MESSAGES_PER_SECOND,
  MAX_SOCKETS_PER_TOKEN,
  WebSocketHub,
} from '../src/live/websocket-hub.ts';
import { type LiveClient, sleep, TIMEOUT_MS, upgrade } from './live-client.ts';

/**
 * The live channel `/ws` (DESIGN "Events" and the API contract; test plan 4.D W1, W2, W4, W5),
 * exercised with the `ws` client against the real listening server.
 */

describe('the WebSocket /ws', () => {
  const borg = useTestMothership();
  const open: LiveClient[] = [];

  const wsUrl = (query = '') => `${borg().url.replace(/^http/, 'ws')}/ws${query}`;

  async function connect(token = borg().adminToken): Promise<LiveClient> {
    const result = await upgrade(wsUrl(), { headers: { authorization: `Bearer ${token}` } });
    if (!result.opened) throw new Error(`upgrade refused with ${result.status}: ${result.body}`);
    open.push(result.client);
    return result.client;
  }

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('refuses an upgrade with a wrong token with 401 before switching protocols (W1)', async () => {
    const wrong = await upgrade(wsUrl(), { headers: { authorization: 'Bearer not-a-real-token' } });
    expect(wrong).toMatchObject({ opened: false, status: 401 });
    expect(JSON.parse((wrong as { body: string }).body)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(await upgrade(wsUrl('?token=not-a-real-token'))).toMatchObject({ opened: false, status: 401 });

    // Without any credential the upgrade goes through, to a socket that must sign in with its
    // first message or be closed (websocket-auth.test.ts).
    const none = await upgrade(wsUrl());
    expect(none.opened).toBe(true);
    if (none.opened) open.push(none.client);
  });

  it('closes the connection of a refused upgrade itself, so anonymous clients cannot pile up sockets', async () => {
    const { port } = new URL(borg().url);
    const socket = connectTcp(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const ended = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer not-a-real-token\r\n' +
        'Connection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const closedByServer = await Promise.race([ended, sleep(TIMEOUT_MS).then(() => false)]);
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).not.toContain('101 Switching Protocols');
    expect(closedByServer).toBe(true);
  });

  it("accepts the token as an Authorization header, and as a ?token= query parameter (named by the design; not sent by Borg's own clients)", async () => {
    const byQuery = await upgrade(wsUrl(`?token=${encodeURIComponent(borg().adminToken)}`));
    expect(byQuery.opened).toBe(true);
    if (byQuery.opened) {
      open.push(byQuery.client);
      await byQuery.client.roundTrip();
    }
    const byHeader = await connect();
    await byHeader.roundTrip();
  });

  it('refuses a page of another site (Origin) with 403 and lets the same origin in (W2)', async () => {
    const headers = { authorization: `Bearer ${borg().adminToken}` };
    const evil = await upgrade(wsUrl(), { headers, origin: 'https://evil.example' });
    expect(evil).toMatchObject({ opened: false, status: 403 });
    const evilByQuery = await upgrade(wsUrl(`?token=${borg().adminToken}`), { origin: 'https://evil.example' });
    expect(evilByQuery).toMatchObject({ opened: false, status: 403 });

    const same = await upgrade(wsUrl(), { headers, origin: borg().url });
    expect(same.opened).toBe(true);
    if (same.opened) open.push(same.client);
  });

  it('sends job.updated for a submit on `jobs`, then task.updated as the task moves', async () => {
    const live = await connect();
    await live.subscribe('jobs');
    const labels = { suite: randomUUID() };
    const runner = await borg().registerRunner({ labels });

    const job = await borg().admin.createJob({ name: 'watched', type: 'shell', command: 'true', labels });
    await live.waitFor(
      (m) => m.type === 'job.updated' && m.data.id === job.id && m.data.status === 'queued',
      'job.updated (queued)',
    );

    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    const taskIs = (status: string) => (m: ServerMessage) =>
      m.type === 'task.updated' && m.data.id === task.id && m.data.status === status;
    await live.waitFor(taskIs('assigned'), 'task.updated (assigned)');
    const started = await live.waitFor(
      (m) => m.type === 'job.updated' && m.data.id === job.id && m.data.status === 'running',
      'job.updated (running)',
    );
    // Job views on the socket carry the outcome too: the runner that took it, by name.
    expect(started).toMatchObject({ data: { outcome: { runners: [{ id: runner.id }], runner_count: 1 } } });

    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    await live.waitFor(taskIs('running'), 'task.updated (running)');
    await runner.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
    const done = await live.waitFor(taskIs('succeeded'), 'task.updated (succeeded)');
    expect(done).toMatchObject({ topic: 'jobs', data: { exit_code: 0, runner_id: runner.id } });
    const ended = await live.waitFor(
      (m) => m.type === 'job.updated' && m.data.id === job.id && m.data.status === 'succeeded',
      'job.updated (succeeded)',
    );
    expect(ended).toMatchObject({ data: { outcome: { runners: [{ id: runner.id, deleted: false }], failure: null } } });
  });

  it("sends a task's current state first on `task:<id>`, then task.log events with the new lines and their indexes", async () => {
    const labels = { suite: randomUUID() };
    const runner = await borg().registerRunner({ labels });
    await borg().admin.createJob({ name: 'logged', type: 'shell', command: 'echo', labels });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });

    const live = await connect();
    await live.subscribe(`task:${task.id}`);
    const current = await live.waitFor((m) => m.type === 'task.updated', 'the current state');
    expect(current).toMatchObject({ topic: `task:${task.id}`, data: { id: task.id, status: 'running' } });

    await runner.client.appendTaskLogs(task.id, {
      seq: 0,
      lines: [
        { stream: 'stdout', message: 'first' },
        { stream: 'stderr', message: 'second' },
      ],
    });
    await runner.client.appendTaskLogs(task.id, {
      seq: 1,
      lines: [{ stream: 'stdout', message: 'third\u0000', timestamp: '2026-01-02T03:04:05.678+02:00' }],
    });
    await live.roundTrip();

    const logs = live.received.filter((m) => m.type === 'task.log');
    expect(live.received.indexOf(current)).toBeLessThan(live.received.indexOf(logs[0]!));
    expect(logs.every((m) => m.topic === `task:${task.id}` && m.data.task_id === task.id)).toBe(true);
    const lines = logs.flatMap((m) => m.data.lines).map(({ index, stream, message }) => ({ index, stream, message }));
    expect(lines).toEqual([
      { index: 0, stream: 'stdout', message: 'first' },
      { index: 1, stream: 'stderr', message: 'second' },
      { index: 2, stream: 'stdout', message: 'third\uFFFD' },
    ]);
    // The live lines are built from the request, not read back: they must equal the stored ones,
    // timestamps included (the solder's own, or the server's when it sent none).
    const stored = await borg().admin.getTaskLogs(task.id);
    expect(logs.flatMap((m) => m.data.lines)).toEqual(stored.items);
    expect(stored.items[2]!.timestamp).toBe('2026-01-02T01:04:05.678Z');
  });

  it('sends runner.updated on `runners` when a runner registers and when it heartbeats', async () => {
    const live = await connect();
    await live.subscribe('runners');
    const runner = await borg().registerRunner({ name: 'watched-runner' });
    await live.waitFor((m) => m.type === 'runner.updated' && m.data.id === runner.id, 'runner.updated (register)');

    const count = live.received.length;
    await runner.client.heartbeat(runner.id, { status: 'online' });
    const beat = await live.waitFor(
      (m) => m.type === 'runner.updated' && m.data.id === runner.id && live.received.indexOf(m) >= count,
      'runner.updated (heartbeat)',
    );
    expect(beat).toMatchObject({ topic: 'runners', data: { name: 'watched-runner', status: 'online' } });
    expect((beat as Extract<ServerMessage, { type: 'runner.updated' }>).data.last_heartbeat).not.toBeNull();
  });

  it('answers an invalid message with an error and stays usable', async () => {
    const live = await connect();
    const errors = () => live.received.filter((m) => m.type === 'error');

    live.send('this is not JSON');
    live.send({ type: 'subscribe', topics: ['everything'] });
    live.send({ type: 'launch-missiles' });
    live.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await live.roundTrip();
    expect(errors()).toHaveLength(4);
    expect(errors()[0]).toMatchObject({ error: { code: 'INVALID_JSON' } });
    expect(errors()[1]).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });

    await live.subscribe('runners');
    const runner = await borg().registerRunner();
    await live.waitFor(
      (m) => m.type === 'runner.updated' && m.data.id === runner.id,
      'runner.updated after the errors',
    );
  });

  it('refuses wildcard and malformed topics in each subscribe message, and subscribes to none of them (W3)', async () => {
    const live = await connect();
    const hostile = ['*', 'task:*', 'job:*', 'jobs:*', 'task:../x', 'task:%', 'runners.secret', 'tokens', 'task:'];
    for (const topic of hostile) live.send({ type: 'subscribe', topics: [topic] });
    // One bad topic spoils the whole message: the good one beside it is not taken either.
    live.send({ type: 'subscribe', topics: ['runners', 'task:*'] });
    await live.roundTrip();
    const errors = live.received.filter((m) => m.type === 'error');
    expect(errors).toHaveLength(hostile.length + 1);
    expect(errors.every((m) => m.type === 'error' && m.error.code === 'VALIDATION_FAILED')).toBe(true);
    expect(live.received.some((m) => m.type === 'subscribed')).toBe(false);
    const runner = await borg().registerRunner();
    await runner.client.heartbeat(runner.id, {});
    await live.roundTrip();
    expect(live.received.filter((m) => m.type === 'runner.updated')).toEqual([]);
  });

  it('stops sending a topic after unsubscribe', async () => {
    const live = await connect();
    await live.subscribe('runners');
    const seen = await borg().registerRunner();
    await live.waitFor((m) => m.type === 'runner.updated' && m.data.id === seen.id, 'runner.updated while subscribed');

    live.send({ type: 'unsubscribe', topics: ['runners'] });
    await live.waitFor((m) => m.type === 'unsubscribed', 'unsubscribed');
    const unseen = await borg().registerRunner();
    await unseen.client.heartbeat(unseen.id, {});
    await live.roundTrip(); // anything published for those two calls would have arrived by now
    expect(live.received.filter((m) => m.type === 'runner.updated' && m.data.id === unseen.id)).toEqual([]);
  });

  it('closes the sockets of a token as soon as it is revoked, and the token cannot reconnect (W5)', async () => {
    const created = await borg().admin.createToken({ name: 'dashboard session', kind: 'user' });
    const live = await connect(created.token);
    await live.roundTrip();

    await borg().admin.revokeToken(created.id);
    const closed = await Promise.race([
      live.closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), TIMEOUT_MS)),
    ]);
    expect(closed).toMatchObject({ code: 4001 });
    expect(await upgrade(wsUrl(), { headers: { authorization: `Bearer ${created.token}` } })).toMatchObject({
      opened: false,
      status: 401,
    });
  });

  it('closes a connection that sends a frame over 64 KiB (W4)', async () => {
    const live = await connect();
    live.send('x'.repeat(100 * 1024));
    const closed = await Promise.race([
      live.closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), TIMEOUT_MS)),
    ]);
    expect(closed).toMatchObject({ code: 1009 }); // "message too big"
  });

  it('closes a connection that sends a 10 MB frame, before reading it whole (W4)', async () => {
    const live = await connect();
    live.send('x'.repeat(10 * 1024 * 1024));
    const closed = await Promise.race([live.closed, sleep(TIMEOUT_MS).then(() => null)]);
    expect(closed).toMatchObject({ code: 1009 });
    await (await connect()).roundTrip(); // and the server goes on
  });

  it(`closes a connection that floods it with more than ${MAX_MESSAGES_PER_SECOND} messages a second (W4)`, async () => {
    const live = await connect();
    const calm = await connect();
    for (let i = 0; i < 10_000 && live.socket.readyState === WebSocket.OPEN; i++) live.send({ type: 'ping' });
    const closed = await Promise.race([live.closed, sleep(TIMEOUT_MS).then(() => null)]);
    expect(closed).toMatchObject({ code: FLOOD_CLOSE_CODE });
    // The flood was cut short: far fewer answers than messages.
    expect(live.received.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(MAX_MESSAGES_PER_SECOND * 2);
    // A client sending at a normal pace on the same server is not affected.
    for (let i = 0; i < 5; i++) await calm.roundTrip();
    expect(calm.socket.readyState).toBe(WebSocket.OPEN);
  });

  it(`refuses a token's ${MAX_SOCKETS_PER_TOKEN + 1}th open socket with 429, and takes it once one closes (W4)`, async () => {
    const created = await borg().admin.createToken({ name: 'many tabs' });
    const sockets: LiveClient[] = [];
    for (let i = 0; i < MAX_SOCKETS_PER_TOKEN; i++) sockets.push(await connect(created.token));
    const refused = await upgrade(wsUrl(), { headers: { authorization: `Bearer ${created.token}` } });
    expect(refused).toMatchObject({ opened: false, status: 429 });
    expect(JSON.parse((refused as { body: string }).body)).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    await (await connect()).roundTrip(); // another token is not affected
    await sockets[0]!.close();
    await expect.poll(() => borg().mothership.hub.socketsOf(created.id)).toBeLessThan(MAX_SOCKETS_PER_TOKEN);
    await (await connect(created.token)).roundTrip();
  });

  describe('dead and expired sessions (W4, W5)', () => {
    const PING_MS = 200;
    let server: WebSocketServer;
    let hub: WebSocketHub;
    let url: string;

    /** A hub of its own with a short ping interval, over the same bus and database. */
    async function hubWith(principal: Principal) {
      server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((resolve) => server.once('listening', resolve));
      hub = new WebSocketHub(borg().mothership.bus, borg().db, { pingIntervalMs: PING_MS });
      server.on('connection', (socket) => hub.add(socket, principal));
      url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
    }

    afterEach(async () => {
      hub?.close();
      await new Promise((resolve) => server?.close(resolve));
    });

    it('terminates a socket that stops answering pings, and keeps one that answers', async () => {
      const token = await borg().admin.createToken({ name: 'pinged' });
      await hubWith({ kind: 'user', tokenId: token.id, name: token.name, runnerId: null, role: 'admin' });
      const dead = new WebSocket(url, { autoPong: false });
      const alive = new WebSocket(url);
      let pings = 0;
      alive.on('ping', () => pings++);
      await Promise.all([dead, alive].map((s) => new Promise((resolve) => s.once('open', resolve))));
      const deadClosed = new Promise<boolean>((resolve) => dead.once('close', () => resolve(true)));
      expect(await Promise.race([deadClosed, sleep(TIMEOUT_MS * 2).then(() => false)])).toBe(true);
      // Each ping comes after a round that checked the answer to the one before: three more rounds.
      const seen = pings;
      await expect.poll(() => pings, { timeout: TIMEOUT_MS }).toBeGreaterThanOrEqual(seen + 3);
      expect(alive.readyState).toBe(WebSocket.OPEN);
      expect(hub.size).toBe(1);
      alive.close();
    });

    it('closes the socket of a token that expires while it is open, within a ping interval', async () => {
      const token = await borg().admin.createToken({ name: 'expiring', expires_in_seconds: 3600 });
      await hubWith({ kind: 'user', tokenId: token.id, name: token.name, runnerId: null, role: 'admin' });
      const socket = new WebSocket(url);
      let pings = 0;
      socket.on('ping', () => pings++);
      await new Promise((resolve) => socket.once('open', resolve));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      // Each ping round also checks the socket's token.
      await expect.poll(() => pings, { timeout: TIMEOUT_MS }).toBeGreaterThanOrEqual(3);
      expect(socket.readyState).toBe(WebSocket.OPEN); // valid so far: left alone
      // Expired in the database, with no revocation event to announce it.
      await borg().db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [token.id]);
      expect(await Promise.race([closed, sleep(TIMEOUT_MS * 2).then(() => null)])).toBe(4001);
    });
  });

  describe('the token in the query string', () => {
    it('is redacted from URLs before they are logged', () => {
      expect(redactUrl('/ws?token=s3cret')).toBe('/ws?token=[REDACTED]');
      expect(redactUrl('/ws?a=1&TOKEN=s3cret&b=2')).toBe('/ws?a=1&TOKEN=[REDACTED]&b=2');
      expect(redactUrl('/api/v1/jobs?limit=5')).toBe('/api/v1/jobs?limit=5');
    });

    it("never appears in a real mothership's log", { timeout: 90_000 }, async () => {
      const database = await createTestDatabase();
      const adminToken = `log-admin-${randomUUID()}`;
      const wrongToken = `log-wrong-${randomUUID()}`;
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, BORG_ADMIN_TOKEN: adminToken };
      if (database.databaseUrl) env.DATABASE_URL = database.databaseUrl;
      const cli = fileURLToPath(new URL('../../cli/bin/borg.js', import.meta.url));
      const args = [
        'mothership',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--data-dir',
        database.dataDir,
        '--log-level',
        'info',
      ];
      const child: ChildProcess = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const shutdown = { clean: false };
      try {
        const port = await vi.waitFor(
          () => {
            const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
            if (!listening && child.exitCode === null) throw new Error(`the mothership did not start:\n${output}`);
            return listening;
          },
          { timeout: 60_000 },
        );
        if (!port) throw new Error(`the mothership exited at start:\n${output}`);
        const base = `ws://127.0.0.1:${port}/ws`;
        const accepted = await upgrade(`${base}?token=${adminToken}`);
        expect(accepted.opened).toBe(true);
        if (accepted.opened) {
          await accepted.client.roundTrip();
          await accepted.client.close();
        }
        expect(await upgrade(`${base}?x=1&token=${wrongToken}`)).toMatchObject({ opened: false, status: 401 });
      } finally {
        // A graceful shutdown that hangs (a leaked socket) would hang this test: give it a bound.
        child.kill('SIGTERM');
        shutdown.clean = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
        if (!shutdown.clean) child.kill('SIGKILL');
        await exited;
        await database.drop();
      }
      expect(shutdown.clean, 'the mothership shuts down on SIGTERM').toBe(true);
      // The requests were logged (so the check below is not vacuous) ...
      expect(output).toContain('/ws?token=[REDACTED]');
      expect(output).toContain('/ws?x=1&token=[REDACTED]');
      // ... and neither secret was.
      expect(output).not.toContain(adminToken);
      expect(output).not.toContain(wrongToken);
    });
  });
});
