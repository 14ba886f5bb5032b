import { randomBytes, randomUUID } from 'node:crypto';

import {
  type CreatedWebhook,
  type CreateWebhookRequest,
  type ListWebhookDeliveriesQuery,
  PING_EVENT,
  type UpdateWebhookRequest,
  type Webhook,
  type WebhookDelivery,
  type WebhookDeliveryDetail,
  type WebhookDeliveryPage,
  type WebhookList,
} from '@borg/protocol';
import type { z } from 'zod';

import type { Principal } from '../auth/principal.ts';
import type { Database } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
import { keysetPage } from '../paging.ts';
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import { checkLiteralHost } from './outbound-address-guard.ts';
import { secretNameOf } from './sealed-secret-columns.ts';
import { webhookDeliveryStore } from './webhook-delivery-store.ts';
import type { WebhookEnqueuer } from './webhook-enqueuer.ts';
import { type WebhookChange, webhookStore } from './webhook-store.ts';
import type { WebhookWorker } from './webhook-worker.ts';

type ValidCreate = z.output<typeof CreateWebhookRequest>;
type ValidUpdate = z.output<typeof UpdateWebhookRequest>;
type ValidDeliveriesQuery = z.output<typeof ListWebhookDeliveriesQuery>;

/** A generated secret: 32 random bytes, as hex (256 bits, as hard to guess as the HMAC's key can use). */
const generateSecret = () => `whsec_${randomBytes(32).toString('hex')}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const notFound = (id: string) => new BorgError('WEBHOOK_NOT_FOUND', `webhook ${id} does not exist`);

/**
 * Webhooks as admins manage them, and the deliveries they can look at, send again and test.
 * Secrets are sealed here before they are stored and opened only by the worker to sign a body;
 * no answer carries one except the creation's, once, when it generated it.
 */
export class WebhookService {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly cipher: SecretCipher,
    private readonly enqueuer: WebhookEnqueuer,
    private readonly worker: WebhookWorker,
    private readonly options: { allowPrivate: boolean },
  ) {}

  async create(request: ValidCreate, actor: Principal): Promise<CreatedWebhook> {
    this.checkAddress(request.url);
    const id = randomUUID();
    const secret = request.secret ?? generateSecret();
    const webhook = await webhookStore.insert(this.db, {
      id,
      url: request.url,
      events: request.events,
      sealed: this.cipher.seal(secretNameOf(id), secret),
      createdBy: actor.tokenId,
    });
    await this.changed();
    return { ...webhook, secret: request.secret === undefined ? secret : null };
  }

  async list(): Promise<WebhookList> {
    return { items: await webhookStore.list(this.db), next_cursor: null };
  }

  async get(id: string): Promise<Webhook> {
    const webhook = await webhookStore.get(this.db, id);
    if (!webhook) throw notFound(id);
    return webhook;
  }

  async update(id: string, request: ValidUpdate): Promise<Webhook> {
    if (request.url !== undefined) this.checkAddress(request.url);
    const change: WebhookChange = { url: request.url, events: request.events, active: request.active };
    if (request.secret !== undefined) {
      change.sealed = request.secret === null ? null : this.cipher.seal(secretNameOf(id), request.secret);
    }
    if (!(await webhookStore.update(this.db, id, change))) throw notFound(id);
    await this.changed();
    return this.get(id);
  }

  async remove(id: string): Promise<Webhook> {
    const webhook = await webhookStore.remove(this.db, id);
    if (!webhook) throw notFound(id);
    await this.changed();
    return webhook;
  }

  async deliveries(id: string, query: ValidDeliveriesQuery): Promise<WebhookDeliveryPage> {
    await this.get(id);
    return keysetPage(
      query,
      1,
      (limit, after) => {
        // A cursor this server made holds a delivery id; anything else must not reach the SQL.
        if (after && !UUID.test(after[0]!)) {
          throw new BorgError('VALIDATION_FAILED', 'cursor is not one this server issued; start again without it');
        }
        return webhookDeliveryStore.list(this.db, id, limit, after?.[0]);
      },
      (delivery) => [delivery.id],
      (deliveries) => deliveries,
    );
  }

  async delivery(id: string, deliveryId: string): Promise<WebhookDeliveryDetail> {
    await this.get(id);
    const delivery = await webhookDeliveryStore.get(this.db, id, deliveryId);
    if (!delivery) throw new BorgError('NOT_FOUND', `webhook ${id} has no delivery ${deliveryId}`);
    return { ...delivery, attempt_log: await webhookDeliveryStore.attempts(this.db, deliveryId) };
  }

  /** A new delivery of the same event and data, sent by the worker with a fresh series of attempts. */
  async redeliver(id: string, deliveryId: string): Promise<WebhookDelivery> {
    await this.get(id);
    const delivery = await webhookDeliveryStore.redeliver(this.db, id, deliveryId);
    if (!delivery) throw new BorgError('NOT_FOUND', `webhook ${id} has no delivery ${deliveryId}`);
    this.worker.kick();
    return delivery;
  }

  /**
   * Sends a `ping` delivery (its data: the webhook as the API shows it) now, in this request,
   * once: an answer about the receiver, not a queued job. Recorded like any delivery.
   */
  async ping(id: string): Promise<WebhookDelivery> {
    const webhook = await this.get(id);
    const claimed = await webhookDeliveryStore.insertClaimedPing(
      this.db,
      id,
      PING_EVENT,
      JSON.stringify(webhook),
      this.worker.leaseSeconds,
    );
    if (!claimed) throw notFound(id);
    await this.worker.attempt(claimed, { retry: false });
    const delivery = await webhookDeliveryStore.get(this.db, id, claimed.id);
    if (!delivery) throw notFound(id); // deleted while it was being sent
    return delivery;
  }

  /**
   * Re-encrypts, in one transaction, the secrets sealed under a previous key this mothership was
   * given (a key rotation); ones under a key it lacks are left as they are and counted.
   */
  async resealUnderCurrentKey(): Promise<{ resealed: number; unreadable: number }> {
    return this.db.transaction(async (tx) => {
      const stale = await webhookStore.sealedUnderOtherKeys(tx, this.cipher.keyId);
      let unreadable = 0;
      for (const { id, sealed } of stale) {
        if (!this.cipher.knows(sealed.keyId)) {
          unreadable++;
          continue;
        }
        const name = secretNameOf(id);
        await webhookStore.reseal(tx, id, this.cipher.seal(name, this.cipher.open(name, sealed)));
      }
      return { resealed: stale.length - unreadable, unreadable };
    });
  }

  /** A URL whose host is a literal address the rule forbids is refused now, not at every delivery. */
  private checkAddress(url: string): void {
    if (this.options.allowPrivate) return;
    const refused = checkLiteralHost(new URL(url));
    if (refused) throw new BorgError('VALIDATION_FAILED', `url ${refused.message}`);
  }

  /** This replica reads the subscriptions again before answering; the others hear of it. */
  private async changed(): Promise<void> {
    await this.enqueuer.reload();
    this.bus.publish({ type: 'webhooks.changed' });
  }
}
