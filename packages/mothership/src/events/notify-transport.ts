import { randomUUID } from 'node:crypto';

import type { Database } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';
import type { BorgEvent, EventBus, EventTransport } from './event-bus.ts';

export const EVENTS_CHANNEL = 'borg_events';

/**
 * NOTIFY payloads are capped at 8000 bytes. Larger events (a job with a big env, a burst of
 * log lines) travel as a reference that the receiving replica turns back into the event by
 * reading the database.
 */
const MAX_INLINE_PAYLOAD = 7_500;

export type EventReference =
  | { kind: 'job'; id: string }
  | { kind: 'task'; id: string }
  | { kind: 'runner'; id: string }
  | { kind: 'task.log'; task_id: string; from: number; to: number };

/** Rebuilds an event from a reference; supplied by the app, which knows the stores. */
export type ReferenceResolver = (reference: EventReference) => Promise<BorgEvent | null>;

interface Envelope {
  origin: string;
  /** Wall-clock ms when it was published, for the event-bus lag metric. */
  at?: number;
  event?: BorgEvent;
  ref?: EventReference;
}

/** Shares the event bus between mothership replicas over PostgreSQL LISTEN/NOTIFY. */
export class NotifyTransport implements EventTransport {
  readonly origin = randomUUID();
  private unlisten: (() => Promise<void>) | undefined;
  /** Payloads published in this turn of the event loop, sent together by flush(). */
  private pending: string[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly resolve: ReferenceResolver,
    private readonly onError: (error: unknown) => void,
    /** Called with the seconds from publish (on another replica) to delivery here. */
    private readonly onDelivered: (lagSeconds: number) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(EVENTS_CHANNEL, (payload) => {
      this.receive(payload).catch(this.onError);
    });
    this.bus.attachTransport(this);
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
  }

  async send(event: BorgEvent): Promise<void> {
    const at = Date.now();
    let payload = surelyTooLarge(event) ? null : JSON.stringify({ origin: this.origin, at, event } satisfies Envelope);
    if (payload === null || Buffer.byteLength(payload) > MAX_INLINE_PAYLOAD) {
      const ref = referenceFor(event);
      if (!ref) return; // internal events are tiny; nothing else lacks a reference
      payload = JSON.stringify({ origin: this.origin, at, ref } satisfies Envelope);
    }
    this.pending.push(payload);
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
    await this.flushing;
  }

  /**
   * Sends every payload queued in this turn in one statement, in publish order (one transaction:
   * listeners get them in that order), so a change that publishes many events (a claim of many
   * tasks) costs one round trip, not one query on a pooled connection per event.
   */
  private async flush(): Promise<void> {
    const payloads = this.pending;
    this.pending = [];
    this.flushing = null;
    await this.db.query(
      prepared('SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS u(p, n) ORDER BY n'),
      [EVENTS_CHANNEL, payloads],
    );
  }

  private async receive(payload: string): Promise<void> {
    const envelope = JSON.parse(payload) as Envelope;
    if (envelope.origin === this.origin) return; // already delivered locally when published
    const event = envelope.event ?? (envelope.ref ? await this.resolve(envelope.ref) : null);
    if (!event) return;
    // Measured after a reference is resolved: the lag is until subscribers here can see it.
    if (envelope.at !== undefined) this.onDelivered((Date.now() - envelope.at) / 1000);
    this.bus.deliver(event);
  }
}

/**
 * A log batch whose messages alone pass the inline limit goes as a reference without being
 * serialised first: a busy task's batches are many and large, and each would be turned into
 * text and measured only to be dropped. (Each character is at least one byte of the payload.)
 */
function surelyTooLarge(event: BorgEvent): boolean {
  if (event.type !== 'task.log') return false;
  let characters = 0;
  for (const line of event.lines) {
    characters += line.message.length;
    if (characters > MAX_INLINE_PAYLOAD) return true;
  }
  return false;
}

function referenceFor(event: BorgEvent): EventReference | null {
  switch (event.type) {
    case 'job.updated':
      return { kind: 'job', id: event.job.id };
    case 'task.updated':
      return { kind: 'task', id: event.task.id };
    case 'runner.updated':
      return { kind: 'runner', id: event.runner.id };
    case 'task.log': {
      const first = event.lines[0]?.index ?? 0;
      const last = event.lines.at(-1)?.index ?? first;
      return { kind: 'task.log', task_id: event.task_id, from: first, to: last };
    }
    default:
      return null;
  }
}
