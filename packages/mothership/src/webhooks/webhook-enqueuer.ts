import { ALL_WEBHOOK_EVENTS } from '@borg/protocol';
import type { Logger } from 'pino';

import type { Database } from '../db/database.ts';
import type { BorgEvent, EventBus } from '../events/event-bus.ts';
import { webhookDeliveryStore } from './webhook-delivery-store.ts';
import { webhookEventNameOf, webhookOccurrenceOf } from './webhook-events.ts';
import { webhookStore } from './webhook-store.ts';

/** How often the subscriptions are read again even when no change was heard of. */
const REFRESH_MS = 60_000;

/**
 * Turns the events this replica publishes into deliveries, in the database, for every active
 * webhook listening. The events that active webhooks listen for are kept in memory, so that the
 * hot paths that publish (every heartbeat publishes runner.updated) pay one Set lookup, and no
 * query, for an event nobody listens for. That set is read again when any replica changes a
 * webhook (the webhooks.changed event, which crosses replicas like any other) and once a minute
 * in case such an event was lost.
 *
 * Only events published here are enqueued (events reach every replica, and the replica where
 * it happened is the one that knows it happened); the dedupe key makes a second publish of the
 * same occurrence, here or elsewhere, add nothing.
 */
export class WebhookEnqueuer {
  private events: ReadonlySet<string> = new Set();
  private readonly unsubscribe: Array<() => void>;
  private readonly writing = new Set<Promise<void>>();
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  constructor(
    private readonly db: Database,
    bus: EventBus,
    private readonly log: Logger,
    /** Called after deliveries were enqueued, to wake this replica's worker. */
    private readonly onEnqueued: () => void,
  ) {
    const refresh = () =>
      void this.reload().catch((error: unknown) => log.warn({ err: error }, 'webhook subscriptions not read'));
    const timer = setInterval(refresh, REFRESH_MS).unref();
    this.unsubscribe = [
      bus.onPublished((event) => this.consider(event)),
      bus.on('webhooks.changed', refresh),
      () => clearInterval(timer),
    ];
  }

  /** Whether any active webhook listens for this event (or for every one). */
  wants(event: string): boolean {
    return this.events.has(event) || this.events.has(ALL_WEBHOOK_EVENTS);
  }

  /** Whether any webhook is active at all: with none, the worker has nothing to look for. */
  get anyActive(): boolean {
    return this.events.size > 0;
  }

  /**
   * Reads the active webhooks' events again. Calls made while a read is under way share one
   * more read after it, so the set ends up as fresh as the last call asked.
   */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          this.events = new Set(await webhookStore.activeEvents(this.db));
        } while (this.reloadAgain);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  /** Waits for the enqueues under way (a graceful shutdown writes them before the database closes). */
  async close(): Promise<void> {
    for (const off of this.unsubscribe) off();
    await Promise.all(this.writing);
  }

  private consider(event: BorgEvent): void {
    if (this.events.size === 0) return;
    const name = webhookEventNameOf(event);
    if (!name || !this.wants(name)) return;
    const occurrence = webhookOccurrenceOf(event);
    if (!occurrence) return;
    const write = webhookDeliveryStore
      .enqueue(this.db, {
        event: occurrence.event,
        dedupeKey: occurrence.dedupeKey,
        dataText: JSON.stringify(occurrence.data),
        at: occurrence.at,
      })
      .then((added) => {
        if (added > 0) this.onEnqueued();
      })
      .catch((error: unknown) =>
        this.log.warn({ err: error, event: occurrence.event }, 'webhook deliveries not enqueued'),
      )
      .finally(() => this.writing.delete(write));
    this.writing.add(write);
  }
}
