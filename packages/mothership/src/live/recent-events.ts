import { randomBytes } from 'node:crypto';

import type { ResyncReason } from '@borg/protocol';

/** One event as the hub sends it: its topics, and its message less `topic` and `id`. */
export interface RecentEvent {
  seq: number;
  topics: readonly string[];
  type: string;
  /** The message's `data`, serialised once for every topic and every client. */
  data: string;
}

export interface RecentEventsLimits {
  /** Events held, whatever their size. */
  maxEvents: number;
  /** Bytes of serialised data held (an estimate of the memory taken: UTF-16 text counts once per character). */
  maxBytes: number;
}

/** About a minute of a busy mothership's events, in at most 16 MiB. */
export const DEFAULT_RECENT_EVENTS_LIMITS: RecentEventsLimits = { maxEvents: 10_000, maxBytes: 16 * 1024 * 1024 };

/** What an event costs beside its data: the object, its topics, the slot. */
const ENTRY_OVERHEAD_BYTES = 200;

/**
 * The recent public events of this replica, numbered by one sequence: an event's id on every
 * topic is `<epoch>.<seq>`, so ids increase on each topic. The epoch is drawn when the process
 * starts; an id from another replica, or from before a restart, names another epoch and cannot
 * be resumed. The oldest events are dropped past the count or the byte limit: resuming from
 * before the newest dropped one could miss events, so it is refused too.
 */
export class RecentEvents {
  readonly epoch = randomBytes(6).toString('base64url');
  private readonly slots: Array<RecentEvent | undefined>;
  /** The seq of the newest event. */
  private head = 0;
  /** The seq of the newest event dropped: events after it are all held. */
  private floor = 0;
  private bytes = 0;

  constructor(private readonly limits: RecentEventsLimits = DEFAULT_RECENT_EVENTS_LIMITS) {
    this.slots = new Array<RecentEvent | undefined>(limits.maxEvents);
  }

  /** The id of the newest event: where a subscription made now starts. */
  get position(): string {
    return this.idOf(this.head);
  }

  idOf(seq: number): string {
    return `${this.epoch}.${seq}`;
  }

  append(topics: readonly string[], type: string, data: string): RecentEvent {
    const event: RecentEvent = { seq: ++this.head, topics, type, data };
    this.dropOldest(this.head - this.floor > this.limits.maxEvents ? 1 : 0);
    this.slots[event.seq % this.limits.maxEvents] = event;
    this.bytes += sizeOf(event);
    while (this.bytes > this.limits.maxBytes && this.floor < this.head - 1) this.dropOldest(1);
    return event;
  }

  /** The seq of an id whose later events are all held, or why they are not. */
  resumable(id: string): { seq: number } | { refused: ResyncReason } {
    const dot = id.lastIndexOf('.');
    const seq = Number(id.slice(dot + 1));
    if (id.slice(0, dot) !== this.epoch || !Number.isSafeInteger(seq) || seq > this.head) {
      return { refused: 'unknown_epoch' };
    }
    return seq < this.floor ? { refused: 'too_old' } : { seq };
  }

  /** The held events after a resumable seq, oldest first. */
  *after(seq: number): Generator<RecentEvent> {
    for (let s = Math.max(seq, this.floor) + 1; s <= this.head; s++) yield this.slots[s % this.limits.maxEvents]!;
  }

  private dropOldest(count: number): void {
    for (let i = 0; i < count; i++) {
      const slot = ++this.floor % this.limits.maxEvents;
      const dropped = this.slots[slot];
      if (dropped) this.bytes -= sizeOf(dropped);
      this.slots[slot] = undefined;
    }
  }
}

function sizeOf(event: RecentEvent): number {
  return event.data.length + ENTRY_OVERHEAD_BYTES;
}
