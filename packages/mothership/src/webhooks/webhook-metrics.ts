import { Counter, Gauge, type Registry } from 'prom-client';

import type { Database } from '../db/database.ts';
import { webhookDeliveryStore } from './webhook-delivery-store.ts';
import type { WebhookObserver } from './webhook-worker.ts';

/** The pending count is read at most this often, however often Prometheus scrapes. */
const PENDING_CACHE_MS = 5_000;

/**
 * Webhook figures on /metrics: attempts by outcome (counted by the replica that made them, so
 * sum() them over replicas) and the deliveries waiting (the whole cluster's, so max() them).
 */
export class WebhookMetrics implements WebhookObserver {
  private readonly deliveries: Counter<'outcome'>;
  private cached: { at: number; value: Promise<number> } | undefined;

  constructor(
    private readonly db: Database,
    registry: Registry,
  ) {
    this.deliveries = new Counter({
      name: 'borg_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered (a 2xx answer), retrying (failed, tried again later), failed (given up).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    for (const outcome of ['delivered', 'retrying', 'failed']) this.deliveries.inc({ outcome }, 0);
    const read = () => this.pending();
    new Gauge({
      name: 'borg_webhook_deliveries_pending',
      help: 'Webhook deliveries waiting for an attempt or in one (whole cluster); -1 when the database did not answer.',
      registers: [registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  attempted(outcome: 'delivered' | 'retrying' | 'failed'): void {
    this.deliveries.inc({ outcome });
  }

  private pending(): Promise<number> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at >= PENDING_CACHE_MS) {
      this.cached = { at: now, value: webhookDeliveryStore.countPending(this.db).catch(() => -1) };
    }
    return this.cached.value;
  }
}
