import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between solders and a mothership that can misbehave like a network:
 * - `delay(ms)`: every chunk, both ways, arrives ms later;
 * - `blackhole()`: nothing passes and new connections hang (a partition: nothing is refused,
 *   so clients find out only from their own timeouts), until `heal()`;
 * - `cut()`: every open connection is reset now (a middlebox or NAT dropping state).
 * The upstream port can change (`retarget`), for a mothership restarted on another port.
 */
export class TcpProxy {
  private server!: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private delayMs = 0;
  private bytesPerSecond = 0;
  private partitioned = false;
  /** Connections accepted while partitioned, connected upstream when it heals. */
  private held: Socket[] = [];
  /** Bytes sent on open connections while partitioned. */
  private backlog: Array<() => void> = [];
  port = 0;

  constructor(private upstreamPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => {
      client.on('error', () => undefined);
      if (this.partitioned) this.held.push(client);
      else this.pipe(client);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  retarget(port: number): void {
    this.upstreamPort = port;
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  /** Caps each direction of each connection at about this many bytes a second (0: no cap). */
  limitRate(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  /** A partition: nothing passes either way and new connections hang, until heal(). */
  blackhole(): void {
    this.partitioned = true;
  }

  heal(): void {
    this.partitioned = false;
    const backlog = this.backlog;
    this.backlog = [];
    for (const send of backlog) send();
    const held = this.held;
    this.held = [];
    for (const client of held) if (!client.destroyed) this.pipe(client);
  }

  /** Resets every connection open now (held ones too). */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    for (const client of this.held) client.resetAndDestroy();
    this.held = [];
    this.backlog = [];
  }

  get connections(): number {
    return this.pairs.size + this.held.length;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    upstream.on('error', () => client.destroy());
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  /** Copies bytes from one side to the other, late by the current delay, and not at all while partitioned. */
  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.partitioned) {
        // Held back, as TCP retransmits across a short outage: delivered in order on heal,
        // unless the client gives up and closes first.
        this.backlog.push(() => !to.destroyed && to.write(chunk));
        return;
      }
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (this.delayMs > 0) setTimeout(send, this.delayMs);
      else send();
      if (this.bytesPerSecond > 0) {
        // A slow link: read nothing more until this chunk's share of the second has passed.
        from.pause();
        setTimeout(() => from.resume(), (chunk.length / this.bytesPerSecond) * 1000);
      }
    });
  }
}
