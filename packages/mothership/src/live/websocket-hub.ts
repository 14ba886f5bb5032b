import { ClientMessage, type ServerMessage, WebSocketCloseCode } from '@borg/protocol';
import type { WebSocket } from 'ws';

import type { Principal } from '../auth/principal.ts';
import { tokenStore } from '../auth/token-store.ts';
import type { Database } from '../db/database.ts';
import type { BorgEvent, EventBus } from '../events/event-bus.ts';
import { taskStore, toTask } from '../jobs/task-store.ts';
import { type RecentEvent, RecentEvents, type RecentEventsLimits } from './recent-events.ts';

/**
 * A client that stops reading is cut off once this much is queued for it, rather than
 * letting the hub's memory grow with its backlog. 4 MiB is a few seconds of a busy log.
 */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Missed events replayed to one resuming client at most; past this its topics are resynced. */
export const MAX_REPLAY_BYTES = MAX_BUFFERED_BYTES / 2;
/** Close code for "you were too slow" (1013: try again later). */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;
const MAX_TOPICS_PER_CLIENT = 200;
/**
 * A dashboard sends a few messages a minute (subscribe, unsubscribe, ping); a client sending
 * more than this many in one second is misbehaving and is closed (W4, message floods).
 */
export const MAX_MESSAGES_PER_SECOND = 50;
/** Close code for "policy violation". */
export const FLOOD_CLOSE_CODE = 1008;
/**
 * Every socket is pinged this often; one that has not answered the previous ping is dead (a
 * laptop that slept, a cut network path) and is terminated, so idle sockets cannot pile up.
 */
export const PING_INTERVAL_MS = 30_000;
/**
 * Open sockets one token may hold (W4: thousands of idle sockets). The dashboard opens one per
 * tab and the CLI one per watching command; past this the upgrade is refused with 429.
 */
export const MAX_SOCKETS_PER_TOKEN = 64;
/**
 * A socket opened without credentials must send its `auth` message within this time; until
 * then it receives nothing, and an anonymous client cannot hold sockets open for longer.
 */
export const AUTH_TIMEOUT_MS = 5_000;

/** Checks the token of an `auth` message: the principal, or why and how to close the socket. */
export type SocketSignIn = (
  token: string,
) => Promise<{ principal: Principal } | { refused: { code: number; reason: string } }>;

interface Client {
  socket: WebSocket;
  /** Null until a socket opened without credentials has signed in with its first message. */
  principal: Principal | null;
  signIn: SocketSignIn | null;
  topics: Set<string>;
  alive: boolean;
  windowStart: number;
  messagesInWindow: number;
  /** Messages are handled one after another, so one sent right after `auth` waits for it. */
  inbox: Promise<void>;
}

const FIRST_MESSAGE = 'the first message must be {"type":"auth","token":…}';

/** A client's frame as a protocol message, or the error to answer it with. */
function readClientMessage(
  text: string | null,
): { message: ClientMessage } | { error: { code: 'VALIDATION_FAILED' | 'INVALID_JSON'; message: string } } {
  if (text === null) return { error: { code: 'VALIDATION_FAILED', message: 'send JSON text frames' } };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: { code: 'INVALID_JSON', message: 'messages are JSON' } };
  }
  const parsed = ClientMessage.safeParse(json);
  if (parsed.success) return { message: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    error: { code: 'VALIDATION_FAILED', message: `${issue?.path.join('.') || 'message'}: ${issue?.message}` },
  };
}

/** Which topics an event belongs to. */
function topicsOf(event: BorgEvent): string[] {
  switch (event.type) {
    case 'job.updated':
      return ['jobs', `job:${event.job.id}`];
    case 'task.updated':
      return ['jobs', `job:${event.task.job_id}`, `task:${event.task.id}`];
    case 'runner.updated':
      return ['runners'];
    case 'task.log':
      return [`task:${event.task_id}`];
    case 'jobs.deleted':
      return ['jobs', ...event.ids.map((id) => `job:${id}`)];
    default:
      return []; // internal events never leave the server
  }
}

/** An event's message type and data, or null for an internal event. */
function payloadOf(event: BorgEvent): { type: EventMessage['type']; data: EventMessage['data'] } | null {
  switch (event.type) {
    case 'job.updated':
      return { type: 'job.updated', data: event.job };
    case 'task.updated':
      return { type: 'task.updated', data: event.task };
    case 'runner.updated':
      return { type: 'runner.updated', data: event.runner };
    case 'task.log':
      return { type: 'task.log', data: { task_id: event.task_id, lines: event.lines } };
    case 'jobs.deleted':
      return { type: 'jobs.deleted', data: { ids: event.ids } };
    default:
      return null;
  }
}

type EventMessage = Extract<ServerMessage, { id?: string; topic: string; data: unknown }>;

/** Fans bus events out to subscribed WebSocket clients. */
export class WebSocketHub {
  private readonly clients = new Set<Client>();
  private readonly unsubscribe: Array<() => void>;
  private readonly pinger: NodeJS.Timeout;
  /** Recent events, replayed to a client that resumes its topics after a reconnect. */
  readonly recent: RecentEvents;

  constructor(
    bus: EventBus,
    private readonly db: Database,
    options: { pingIntervalMs?: number; recentEvents?: RecentEventsLimits } = {},
  ) {
    this.recent = new RecentEvents(options.recentEvents);
    this.unsubscribe = [
      bus.onAny((event) => this.broadcast(event)),
      bus.on('token.revoked', (event) => this.closeSessionsOf(event.token_id)),
    ];
    this.pinger = setInterval(() => this.pingAll(), options.pingIntervalMs ?? PING_INTERVAL_MS);
    this.pinger.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Sockets open with this token now. */
  socketsOf(tokenId: string): number {
    let count = 0;
    for (const client of this.clients) if (client.principal?.tokenId === tokenId) count++;
    return count;
  }

  /** A socket whose upgrade carried a valid token (an `Authorization` header). */
  add(socket: WebSocket, principal: Principal): void {
    this.track(socket, principal, null);
  }

  /**
   * A socket opened without credentials (a browser): its first message must be `auth`, within
   * AUTH_TIMEOUT_MS, or it is closed with 4401; `signIn` judges the token.
   */
  addUnauthenticated(socket: WebSocket, signIn: SocketSignIn): void {
    const client = this.track(socket, null, signIn);
    const timer = setTimeout(() => {
      if (!client.principal) {
        this.refuse(
          client,
          WebSocketCloseCode.unauthenticated,
          `send {"type":"auth","token":…} within ${AUTH_TIMEOUT_MS / 1000} s`,
        );
      }
    }, AUTH_TIMEOUT_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  private track(socket: WebSocket, principal: Principal | null, signIn: SocketSignIn | null): Client {
    const client: Client = {
      socket,
      principal,
      signIn,
      topics: new Set(),
      alive: true,
      windowStart: Date.now(),
      messagesInWindow: 0,
      inbox: Promise.resolve(),
    };
    this.clients.add(client);
    socket.on('close', () => this.clients.delete(client));
    socket.on('error', () => socket.terminate());
    socket.on('pong', () => (client.alive = true));
    socket.on('message', (data, isBinary) => {
      client.alive = true;
      if (this.flooding(client)) {
        this.clients.delete(client);
        return socket.close(FLOOD_CLOSE_CODE, `more than ${MAX_MESSAGES_PER_SECOND} messages a second`);
      }
      const text = isBinary ? null : data.toString();
      // A failure handling a message (the database away while a token is checked) ends the
      // socket with 1011; the client reconnects, as after any drop.
      client.inbox = client.inbox
        .then(() => this.receive(client, text))
        .catch(() => this.refuse(client, 1011, 'internal error: reconnect'));
    });
    return client;
  }

  close(): void {
    clearInterval(this.pinger);
    for (const off of this.unsubscribe) off();
    for (const client of this.clients) client.socket.close(1001, 'server shutting down');
  }

  /** One frame from the client: `null` for a binary one, which the protocol has no use for. */
  private async receive(client: Client, text: string | null): Promise<void> {
    const read = readClientMessage(text);
    if (!client.principal) {
      if ('message' in read && read.message.type === 'auth') return this.signIn(client, read.message.token);
      return this.refuse(client, WebSocketCloseCode.unauthenticated, FIRST_MESSAGE);
    }
    if ('error' in read) return this.send(client, { type: 'error', error: read.error });
    const message = read.message;

    if (message.type === 'auth') return this.signIn(client, message.token);
    if (message.type === 'ping') return this.send(client, { type: 'pong' });
    if (message.type === 'unsubscribe') {
      for (const topic of message.topics) client.topics.delete(topic);
      return this.send(client, { type: 'unsubscribed', topics: message.topics });
    }
    if (client.topics.size + message.topics.length > MAX_TOPICS_PER_CLIENT) {
      return this.send(client, {
        type: 'error',
        error: { code: 'VALIDATION_FAILED', message: `at most ${MAX_TOPICS_PER_CLIENT} topics per connection` },
      });
    }
    const since = message.since ?? {};
    const stray = Object.keys(since).find((topic) => !message.topics.includes(topic));
    if (stray !== undefined) {
      return this.send(client, {
        type: 'error',
        error: { code: 'VALIDATION_FAILED', message: `since: ${stray} is not one of the topics subscribed` },
      });
    }
    // Missed events, resyncs and `subscribed` go out in one turn, before any new event, so the
    // last id a client received is always where it stands.
    const resumed = this.resume(client, since);
    for (const topic of message.topics) client.topics.add(topic);
    this.send(client, { type: 'subscribed', topics: message.topics, id: this.recent.position });
    // Current state first, then changes: a task topic starts with the task as it is now (a
    // resumed one has it already).
    for (const topic of message.topics.filter((t) => t.startsWith('task:') && !resumed.has(t))) {
      const row = await taskStore.get(this.db, topic.slice(5)).catch(() => null);
      if (row) this.send(client, { type: 'task.updated', topic, data: toTask(row) });
    }
  }

  /**
   * Sends each topic of `since` the events after its id, oldest first (an event on several of
   * them once, as live), or `resync` when they are not all held. Returns the topics resumed.
   */
  private resume(client: Client, since: Record<string, string>): Map<string, number> {
    const resumed = new Map<string, number>();
    for (const [topic, id] of Object.entries(since)) {
      const held = this.recent.resumable(id);
      if ('refused' in held) this.send(client, { type: 'resync', topic, reason: held.refused });
      else resumed.set(topic, held.seq);
    }
    if (resumed.size === 0) return resumed;
    const frames: Buffer[] = [];
    let bytes = 0;
    for (const event of this.recent.after(Math.min(...resumed.values()))) {
      const topic = event.topics.find((t) => (resumed.get(t) ?? Infinity) < event.seq);
      if (topic === undefined) continue;
      const frame = this.frame(event, topic);
      frames.push(frame);
      bytes += frame.length;
      // More than the client may have queued: it would be cut off, and would ask again.
      if (bytes > MAX_REPLAY_BYTES) {
        for (const topic of resumed.keys()) this.send(client, { type: 'resync', topic, reason: 'too_large' });
        return new Map();
      }
    }
    for (const frame of frames) this.sendRaw(client, frame);
    return resumed;
  }

  private async signIn(client: Client, token: string): Promise<void> {
    if (client.principal || !client.signIn) {
      return this.send(client, {
        type: 'error',
        error: { code: 'VALIDATION_FAILED', message: 'this connection is already authenticated' },
      });
    }
    const outcome = await client.signIn(token);
    if (client.socket.readyState !== client.socket.OPEN) return;
    if ('refused' in outcome) return this.refuse(client, outcome.refused.code, outcome.refused.reason);
    client.principal = outcome.principal;
    this.send(client, { type: 'authenticated' });
  }

  /** Closes a socket that may not stay; a close reason is at most 123 bytes on the wire. */
  private refuse(client: Client, code: number, reason: string): void {
    this.clients.delete(client);
    let fitting = reason;
    while (Buffer.byteLength(fitting) > 123) fitting = fitting.slice(0, -1);
    client.socket.close(code, fitting);
  }

  private broadcast(event: BorgEvent): void {
    const topics = topicsOf(event);
    const payload = payloadOf(event);
    if (topics.length === 0 || !payload) return;
    const recent = this.recent.append(topics, payload.type, JSON.stringify(payload.data));
    if (this.clients.size === 0) return;
    // Serialise and encode once per topic, not once per client (a log batch goes to every viewer).
    const frames = new Map<string, Buffer>();
    for (const client of this.clients) {
      const topic = topics.find((t) => client.topics.has(t));
      if (!topic) continue;
      let frame = frames.get(topic);
      if (frame === undefined) {
        frame = this.frame(recent, topic);
        frames.set(topic, frame);
      }
      this.sendRaw(client, frame);
    }
  }

  /** An event's message on one topic, built around its data serialised once. */
  private frame(event: RecentEvent, topic: string): Buffer {
    const head = JSON.stringify({ type: event.type, topic, id: this.recent.idOf(event.seq) });
    return Buffer.from(`${head.slice(0, -1)},"data":${event.data}}`);
  }

  private send(client: Client, message: ServerMessage): void {
    this.sendRaw(client, JSON.stringify(message));
  }

  /** Sends a text frame (a Buffer holds it as UTF-8 already). */
  private sendRaw(client: Client, frame: string | Buffer): void {
    if (client.socket.readyState !== client.socket.OPEN) return;
    if (client.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      client.socket.close(SLOW_CONSUMER_CLOSE_CODE, 'too slow: reconnect and refetch');
      this.clients.delete(client);
      return;
    }
    client.socket.send(frame, { binary: false });
  }

  private flooding(client: Client): boolean {
    const now = Date.now();
    if (now - client.windowStart >= 1_000) {
      client.windowStart = now;
      client.messagesInWindow = 0;
    }
    return ++client.messagesInWindow > MAX_MESSAGES_PER_SECOND;
  }

  private pingAll(): void {
    void this.closeExpiredSessions();
    for (const client of this.clients) {
      if (!client.alive) {
        this.clients.delete(client);
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      if (client.socket.readyState === client.socket.OPEN) client.socket.ping();
    }
  }

  /**
   * A token that expired while its socket was open, or whose revocation this replica missed (its
   * LISTEN connection was down at the time), is caught here: no socket outlives its token by
   * more than one ping interval.
   */
  private async closeExpiredSessions(): Promise<void> {
    const ids = [
      ...new Set([...this.clients].flatMap((client) => (client.principal ? [client.principal.tokenId] : []))),
    ];
    if (ids.length === 0) return;
    const active = await tokenStore.stillActive(this.db, ids).catch(() => null);
    if (!active) return; // the database is away: check again next round
    for (const client of this.clients) {
      if (client.principal && !active.has(client.principal.tokenId)) {
        client.socket.close(WebSocketCloseCode.tokenRevoked, 'token revoked or expired');
      }
    }
  }

  /** A revoked token's open sockets close at once (W5). */
  private closeSessionsOf(tokenId: string): void {
    for (const client of this.clients) {
      if (client.principal?.tokenId === tokenId) client.socket.close(WebSocketCloseCode.tokenRevoked, 'token revoked');
    }
  }
}
