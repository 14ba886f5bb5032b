import type { Webhook, WebhookDeliveryStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { sealedOf, sealedParams, type SealedSecret, type SealedSecretColumns } from './sealed-secret-columns.ts';

interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  secret_set: boolean;
  last_status: WebhookDeliveryStatus | null;
  last_at: Date | null;
  last_code: number | null;
  created_at: Date;
  updated_at: Date;
}

const toWebhook = (row: WebhookRow): Webhook => ({
  id: row.id,
  url: row.url,
  events: row.events,
  active: row.active,
  secret_set: row.secret_set,
  last_delivery:
    row.last_status && row.last_at
      ? { status: row.last_status, at: row.last_at.toISOString(), response_status_code: row.last_code }
      : null,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

/** Never the secret's columns: a webhook as the API shows it, with its newest delivery. */
const SELECT_WEBHOOK = `
  SELECT w.id, w.url, w.events, w.active, w.secret_key_id IS NOT NULL AS secret_set, w.created_at, w.updated_at,
         last.status AS last_status, last.created_at AS last_at, last.last_status_code AS last_code
    FROM webhooks w
    LEFT JOIN LATERAL (
      SELECT d.status, d.created_at, d.last_status_code FROM webhook_deliveries d
       WHERE d.webhook_id = w.id ORDER BY d.created_at DESC, d.id DESC LIMIT 1
    ) last ON true`;

export interface NewWebhook {
  id: string;
  url: string;
  events: string[];
  sealed: SealedSecret | null;
  createdBy: string | null;
}

export interface WebhookChange {
  url?: string;
  events?: string[];
  /** A new sealed secret; null removes it; absent keeps it. */
  sealed?: SealedSecret | null;
  active?: boolean;
}

/** Every statement about webhooks themselves; secrets go in and out sealed. */
export const webhookStore = {
  async insert(db: Queryable, webhook: NewWebhook): Promise<Webhook> {
    await db.query(
      `INSERT INTO webhooks (id, url, events, secret_key_id, secret_nonce, secret_ciphertext, secret_auth_tag, created_by)
       VALUES ($1, $2, $3::text[], $4, $5, $6, $7, $8)`,
      [webhook.id, webhook.url, webhook.events, ...sealedParams(webhook.sealed), webhook.createdBy],
    );
    return (await webhookStore.get(db, webhook.id))!;
  },

  async get(db: Queryable, id: string): Promise<Webhook | null> {
    const { rows } = await db.query<WebhookRow>(`${SELECT_WEBHOOK} WHERE w.id = $1`, [id]);
    return rows[0] ? toWebhook(rows[0]) : null;
  },

  async list(db: Queryable): Promise<Webhook[]> {
    const { rows } = await db.query<WebhookRow>(`${SELECT_WEBHOOK} ORDER BY w.created_at, w.id`);
    return rows.map(toWebhook);
  },

  /** Applies the fields given; false when there is no such webhook. */
  async update(db: Queryable, id: string, change: WebhookChange): Promise<boolean> {
    const keepSecret = change.sealed === undefined;
    const { rowCount } = await db.query(
      `UPDATE webhooks SET
         url = coalesce($2, url),
         events = coalesce($3::text[], events),
         active = coalesce($4, active),
         secret_key_id = CASE WHEN $5 THEN secret_key_id ELSE $6 END,
         secret_nonce = CASE WHEN $5 THEN secret_nonce ELSE $7::bytea END,
         secret_ciphertext = CASE WHEN $5 THEN secret_ciphertext ELSE $8::bytea END,
         secret_auth_tag = CASE WHEN $5 THEN secret_auth_tag ELSE $9::bytea END,
         updated_at = now()
       WHERE id = $1`,
      [
        id,
        change.url ?? null,
        change.events ?? null,
        change.active ?? null,
        keepSecret,
        ...sealedParams(change.sealed ?? null),
      ],
    );
    return rowCount > 0;
  },

  async remove(db: Queryable, id: string): Promise<Webhook | null> {
    const webhook = await webhookStore.get(db, id);
    if (!webhook) return null;
    await db.query('DELETE FROM webhooks WHERE id = $1', [id]);
    return webhook;
  },

  /** The events of every active webhook (what the enqueuer keeps in memory). */
  async activeEvents(db: Queryable): Promise<string[]> {
    const { rows } = await db.query<{ event: string }>(
      'SELECT DISTINCT unnest(events) AS event FROM webhooks WHERE active',
    );
    return rows.map((r) => r.event);
  },

  /** Secrets sealed under another key than this one (to re-encrypt after a key rotation). */
  async sealedUnderOtherKeys(db: Queryable, keyId: string): Promise<Array<{ id: string; sealed: SealedSecret }>> {
    const { rows } = await db.query<SealedSecretColumns & { id: string }>(
      `SELECT id, secret_key_id, secret_nonce, secret_ciphertext, secret_auth_tag FROM webhooks
        WHERE secret_key_id <> $1 FOR UPDATE`,
      [keyId],
    );
    return rows.map((row) => ({ id: row.id, sealed: sealedOf(row)! }));
  },

  /** Replaces a secret's sealing without touching updated_at (a re-encryption, not a change). */
  async reseal(db: Queryable, id: string, sealed: SealedSecret): Promise<void> {
    await db.query(
      `UPDATE webhooks SET secret_key_id = $2, secret_nonce = $3, secret_ciphertext = $4, secret_auth_tag = $5
        WHERE id = $1`,
      [id, ...sealedParams(sealed)],
    );
  },
};
