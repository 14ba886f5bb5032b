import { ServerMessage } from '@borg/protocol';
import type WebSocket from 'ws';

/**
 * The mothership's `/ws` events, for following logs and jobs live. It is an accelerator, not
 * the source of truth: whoever uses it also polls the REST API (more often while this is not
 * connected), so a refused upgrade, a proxy that drops WebSockets or a dropped connection costs
 * latency, never a line.
 */
export class LiveEvents {
  private socket: WebSocket | undefined;
  private readonly topics = new Set<string>();
  connected = false;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly onMessage: (message: ServerMessage) => void,
  ) {}

  /** Connects and waits for the upgrade; false (and polling alone) when that fails within 5 s. */
  async connect(): Promise<boolean> {
    const url = this.baseUrl.replace(/^http/, 'ws') + '/ws';
    // Loaded here, not at the top: only the following commands connect, and ws would make every
    // other command's start-up load and compile it and the zlib, tls and https it requires.
    const { default: WebSocketClient } = await import('ws');
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
      if (parsed.success) this.onMessage(parsed.data);
    });
    socket.on('close', () => (this.connected = false));
    // An error is followed by close; without a listener ws would throw it.
    socket.on('error', () => undefined);
    this.connected = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    if (this.connected && this.topics.size > 0) this.send({ type: 'subscribe', topics: [...this.topics] });
    return this.connected;
  }

  subscribe(topics: string[]): void {
    const fresh = topics.filter((t) => !this.topics.has(t));
    if (fresh.length === 0) return;
    for (const topic of fresh) this.topics.add(topic);
    if (this.connected) this.send({ type: 'subscribe', topics: fresh });
  }

  unsubscribe(topics: string[]): void {
    const known = topics.filter((t) => this.topics.delete(t));
    if (known.length > 0 && this.connected) this.send({ type: 'unsubscribe', topics: known });
  }

  close(): void {
    this.connected = false;
    this.socket?.removeAllListeners('message');
    this.socket?.on('error', () => undefined);
    this.socket?.terminate();
  }

  private send(message: unknown): void {
    this.socket?.send(JSON.stringify(message));
  }
}
