import type { WebhookDeliveryStatus } from '@borg/protocol';
import type { Logger } from 'pino';

import type { Database } from '../db/database.ts';
import { type BackoffPolicy, retryDelayMs } from '../jobs/retry-backoff.ts';
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import { secretNameOf } from './sealed-secret-columns.ts';
import { type ClaimedDelivery, webhookDeliveryStore } from './webhook-delivery-store.ts';
import type { AttemptResult, WebhookSender } from './webhook-sender.ts';

/** Deliveries one claim takes, sent side by side. */
const BATCH = 16;
/** Ended deliveries (and their attempts) are kept this long, then deleted. */
export const KEEP_ENDED_DELIVERIES_DAYS = 30;
/** How often each replica deletes what is past that, in batches of PRUNE_BATCH. */
const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_BATCH = 1_000;

export interface WebhookWorkerOptions {
  /** How often the worker looks for due deliveries (and retries whose backoff ended). */
  pollMs: number;
  /** An attempt's timeout: the lease is a multiple of it, so a live sender never loses its claim. */
  timeoutMs: number;
  /** Backoff after a failed attempt: exponential with jitter, from baseMs up to maxMs. */
  retry: BackoffPolicy & {
    /** A delivery is given up (failed) once its next attempt would start this long after it was made. */
    forSeconds: number;
  };
}

/** What the worker reports, for /metrics: each attempt's outcome. */
export interface WebhookObserver {
  /** `delivered`, `retrying` (failed, tried again later) or `failed` (given up). */
  attempted(outcome: 'delivered' | 'retrying' | 'failed'): void;
}

/**
 * Sends due deliveries, on every replica: each round claims a batch (webhook-delivery-store.ts
 * says why two replicas never send the same attempt), sends them side by side and records each
 * result, until none is due; then it sleeps until the next poll or until this replica enqueues
 * one. With no active webhook anywhere it asks the database nothing.
 */
export class WebhookWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private kicked = false;
  private lastPrune = -Infinity;

  constructor(
    private readonly db: Database,
    private readonly sender: WebhookSender,
    private readonly cipher: SecretCipher,
    private readonly hasActiveWebhooks: () => boolean,
    private readonly observer: WebhookObserver,
    private readonly log: Logger,
    private readonly options: WebhookWorkerOptions,
  ) {}

  /** Seconds an attempt holds its delivery: past it, another replica may try again. */
  get leaseSeconds(): number {
    return Math.ceil((this.options.timeoutMs * 3) / 1000) + 30;
  }

  start(): void {
    this.stopped = false;
    this.loop();
  }

  /** Stops looking for work and waits for the attempts under way to be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** New deliveries are due now: look at once rather than at the next poll. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.kicked = true;
      return;
    }
    clearTimeout(this.timer);
    this.loop();
  }

  private loop(): void {
    this.kicked = false;
    this.running = this.drain()
      .catch((error: unknown) => this.log.warn({ err: error }, 'webhook delivery round failed; retrying next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.kicked) this.loop();
        else this.timer = setTimeout(() => this.loop(), this.options.pollMs);
      });
  }

  /** Claims and sends batches until a claim comes back short (nothing more is due). */
  private async drain(): Promise<void> {
    if (performance.now() - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = performance.now();
      await this.pruneEnded();
    }
    while (!this.stopped && this.hasActiveWebhooks()) {
      const claimed = await webhookDeliveryStore.claimDue(this.db, BATCH, this.leaseSeconds);
      await Promise.all(claimed.map((delivery) => this.attempt(delivery, { retry: true })));
      if (claimed.length < BATCH) return;
    }
  }

  /** Deletes deliveries that ended more than KEEP_ENDED_DELIVERIES_DAYS ago, a batch at a time. */
  async pruneEnded(): Promise<number> {
    let deleted = 0;
    for (;;) {
      const n = await webhookDeliveryStore.pruneEnded(this.db, KEEP_ENDED_DELIVERIES_DAYS, PRUNE_BATCH);
      deleted += n;
      if (n < PRUNE_BATCH || this.stopped) return deleted;
    }
  }

  /**
   * One attempt of a claimed delivery: sends it, records the result, and sets what comes next
   * (with `retry`, another attempt after the backoff; without, as for a ping, none). Returns the
   * delivery's new status, or null when its claim had passed to another replica.
   */
  async attempt(delivery: ClaimedDelivery, { retry }: { retry: boolean }): Promise<WebhookDeliveryStatus | null> {
    const startedAt = new Date();
    let result: AttemptResult;
    try {
      const secret = delivery.sealed ? this.cipher.open(secretNameOf(delivery.webhookId), delivery.sealed) : null;
      result = await this.sender.send({
        url: delivery.url,
        id: delivery.id,
        event: delivery.event,
        body: deliveryBody(delivery),
        secret,
      });
    } catch (error) {
      // A secret sealed under a key this mothership lacks: nothing was sent, and it says why.
      result = { ok: false, statusCode: null, durationMs: 0, error: (error as Error).message, responseBody: null };
    }
    const status = await webhookDeliveryStore.recordAttempt(this.db, {
      deliveryId: delivery.id,
      attempt: delivery.attempt,
      startedAt,
      ok: result.ok,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
      error: result.error,
      responseBody: result.responseBody,
      retryInSeconds: retry ? retryDelayMs(this.options.retry, delivery.attempt) / 1000 : null,
      retryForSeconds: this.options.retry.forSeconds,
    });
    if (status) this.observer.attempted(status === 'pending' ? 'retrying' : status);
    if (status === 'failed') {
      this.log.warn(
        { webhook_id: delivery.webhookId, delivery_id: delivery.id, attempts: delivery.attempt, error: result.error },
        'webhook delivery failed for good',
      );
    }
    return status;
  }
}

/**
 * The body of a delivery: `{"id", "event", "created_at", "data"}`, with `data` exactly as it was
 * stored when the event happened, so a redelivery sends the same data.
 */
export function deliveryBody(delivery: Pick<ClaimedDelivery, 'id' | 'event' | 'eventAt' | 'dataText'>): string {
  const head = JSON.stringify({ id: delivery.id, event: delivery.event, created_at: delivery.eventAt });
  return `${head.slice(0, -1)},"data":${delivery.dataText}}`;
}
