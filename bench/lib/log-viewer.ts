/**
 * A live viewer of one task's log over the WebSocket, as the dashboard watches one (see
 * packages/web/src/lib/live.ts): when the server cuts it off as too slow (1013) or the socket
 * drops, it reconnects and resumes from the last event id it got; when the server cannot resume
 * (`resync`), it reads the lines it missed over the REST API, then goes on live. It counts every
 * line once and notes any that came out of order, so "got every line in order" holds for the
 * whole client, cut-offs included.
 */
import type { BorgClient } from '@borg/protocol';
import WebSocket from 'ws';

interface LogLineSeen {
  index: number;
}

interface Frame {
  type: string;
  id?: string;
  data?: { lines?: LogLineSeen[] };
}

export class LogViewer {
  received = 0;
  outOfOrder = 0;
  /** Times the server cut this viewer off (or its socket dropped) and it came back. */
  reconnects = 0;
  /** Resumes the server could not serve from its recent events: the missed lines were read over REST. */
  refetches = 0;
  private lastIndex = -1;
  private lastId: string | undefined;
  private socket: WebSocket | undefined;
  private stopped = false;
  /** Live frames that arrive while missed lines are read; handled after them, in order. */
  private held: Frame[] | null = null;

  constructor(
    private readonly wsUrl: string,
    private readonly token: string,
    private readonly taskId: string,
    private readonly client: BorgClient,
  ) {}

  get topic(): string {
    return `task:${this.taskId}`;
  }

  /** Resolves once the first socket is open and subscribed. */
  async start(): Promise<void> {
    await this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.socket?.terminate();
  }

  private connect(): Promise<void> {
    const socket = new WebSocket(this.wsUrl, { headers: { authorization: `Bearer ${this.token}` } });
    this.socket = socket;
    socket.on('message', (data) => this.receive(JSON.parse(data.toString()) as Frame & { topic?: string }));
    socket.on('close', () => {
      if (this.stopped || this.socket !== socket) return;
      this.reconnects++;
      void this.connect().catch(() => undefined);
    });
    return new Promise<void>((resolve, reject) => {
      socket.once('open', () => {
        const since = this.lastId ? { since: { [this.topic]: this.lastId } } : {};
        socket.send(JSON.stringify({ type: 'subscribe', topics: [this.topic], ...since }));
        resolve();
      });
      socket.once('error', reject);
    });
  }

  private receive(frame: Frame): void {
    if (frame.type === 'resync') {
      // A failed read leaves the viewer short of lines, which the figure reports.
      this.refetch().catch(() => undefined);
      return;
    }
    if (frame.type !== 'task.log') return;
    if (this.held) {
      this.held.push(frame);
      return;
    }
    this.take(frame);
  }

  private take(frame: Frame): void {
    if (frame.id) this.lastId = frame.id;
    this.count(frame.data!.lines!);
  }

  private count(lines: readonly LogLineSeen[]): void {
    for (const line of lines) {
      if (line.index <= this.lastIndex) continue; // already read (a resume or a refetch overlaps)
      if (line.index !== this.lastIndex + 1) this.outOfOrder++;
      this.lastIndex = line.index;
      this.received++;
    }
  }

  /** Reads what was missed, page by page, then the frames that came meanwhile. */
  private async refetch(): Promise<void> {
    this.refetches++;
    this.held = [];
    for (;;) {
      const page = await this.client.getTaskLogs(this.taskId, { after: this.lastIndex, limit: 10_000 });
      this.count(page.items);
      if (page.items.length === 0 || page.next_cursor === null) break;
    }
    const held = this.held;
    this.held = null;
    for (const frame of held) this.take(frame);
  }
}
