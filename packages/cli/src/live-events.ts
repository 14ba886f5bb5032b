import { type ClientMessage, ServerMessage } from '@borg/protocol';
import type WebSocket from 'ws';

/** Reconnect delays after a drop: from half a second, doubling, at most this. */
const MAX_RECONNECT_DELAY_MS = 8000;

/** Waits before reconnect attempt `attempt` (0 first). */
export type ReconnectDelay = (attempt: number) => Promise<void>;

const backOff: ReconnectDelay = (attempt) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(MAX_RECONNECT_DELAY_MS, 500 * 2 ** attempt)).unref());

/**
 * The mothership's `/ws` events, for following logs and jobs live. It is an accelerator, not
 * the source of truth: whoever uses it also polls the REST API (more often while this is not
 * connected), so a refused upgrade, a proxy that drops WebSockets or a dropped connection costs
 * latency, never a line.
 *
 * After a drop it reconnects and resumes its topics from the last event id received
 * (docs/live-events.md): the events missed come then. A topic the server cannot resume, or a
 * reconnect without an id to resume from, calls `onBehind`: a REST round fills the gap.
 */
export class LiveEvents {
  private socket: WebSocket | undefined;
  private readonly topics = new Set<string>();
  /** The last id received on this socket: where it stands on the topics it held. */
  private position: string | undefined;
  /** Topics the server confirmed on this socket (`subscribed`). */
  private readonly held = new Set<string>();
  private retry = 0;
  private closed = false;
  connected = false;
  /** Called when events may have been missed (set by the follower: a REST round now). */
  onBehind: () => void = () => undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly onMessage: (message: ServerMessage) => void,
    private readonly reconnectDelay: ReconnectDelay = backOff,
  ) {}

  /** Connects and waits for the upgrade; false (and polling alone) when that fails within 5 s. */
  async connect(): Promise<boolean> {
    this.connected = await this.open(undefined);
    return this.connected;
  }

  private async open(resume: { id: string | undefined; topics: Set<string> } | undefined): Promise<boolean> {
    const url = this.baseUrl.replace(/^http/, 'ws') + '/ws';
    // Loaded here, not at the top: only the following commands connect, and ws would make every
    // other command's start-up load and compile it and the zlib, tls and https it requires.
    const { default: WebSocketClient } = await import('ws');
    if (this.closed) return false;
    const socket = new WebSocketClient(url, {
      headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
      handshakeTimeout: 5000,
    });
    this.socket = socket;
    socket.on('message', (data) => {
      let parsed: ReturnType<typeof ServerMessage.safeParse>;
      try {
        parsed = ServerMessage.safeParse(JSON.parse(data.toString()));
      } catch {
        return; // not JSON: not for us
      }
      if (parsed.success) this.receive(parsed.data);
    });
    // An error is followed by close; without a listener ws would throw it.
    socket.on('error', () => undefined);
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    if (opened) socket.once('close', () => this.dropped(socket));
    if (!opened || this.closed) return opened;
    this.connected = true;
    this.retry = 0;
    const topics = [...this.topics];
    const since: Record<string, string> = {};
    for (const topic of topics) if (resume?.id && resume.topics.has(topic)) since[topic] = resume.id;
    if (resume && Object.keys(since).length < topics.length) this.onBehind();
    if (topics.length > 0) this.send({ type: 'subscribe', topics, ...(resume?.id ? { since } : {}) });
    return true;
  }

  private receive(message: ServerMessage): void {
    if ('id' in message && message.id !== undefined) this.position = message.id;
    if (message.type === 'subscribed') for (const topic of message.topics) this.held.add(topic);
    if (message.type === 'resync') this.onBehind();
    this.onMessage(message);
  }

  /** A socket that was open dropped: try again, resuming where it stood. */
  private dropped(socket: WebSocket): void {
    if (this.socket !== socket || this.closed) return;
    this.connected = false;
    const resume = { id: this.position, topics: new Set(this.held) };
    this.position = undefined;
    this.held.clear();
    const retryLater = async (): Promise<void> => {
      await this.reconnectDelay(this.retry++);
      if (this.closed) return;
      if (!(await this.open(resume)) && !this.closed) return retryLater();
    };
    void retryLater();
  }

  subscribe(topics: string[]): void {
    const fresh = topics.filter((t) => !this.topics.has(t));
    if (fresh.length === 0) return;
    for (const topic of fresh) this.topics.add(topic);
    if (this.connected) this.send({ type: 'subscribe', topics: fresh });
  }

  unsubscribe(topics: string[]): void {
    const known = topics.filter((t) => this.topics.delete(t));
    for (const topic of known) this.held.delete(topic);
    if (known.length > 0 && this.connected) this.send({ type: 'unsubscribe', topics: known });
  }

  close(): void {
    this.closed = true;
    this.connected = false;
    this.socket?.removeAllListeners('message');
    this.socket?.on('error', () => undefined);
    this.socket?.terminate();
  }

  private send(message: ClientMessage): void {
    this.socket?.send(JSON.stringify(message));
  }
}
