import type { WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryStatus } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { sealedOf, type SealedSecret } from './sealed-secret-columns.ts';

interface DeliveryRow {
  id: string;
  webhook_id: string;
  event: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_duration_ms: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
  redelivery_of: string | null;
  created_at: Date;
  completed_at: Date | null;
}

const DELIVERY_COLUMNS = `d.id, d.webhook_id, d.event, d.status, d.attempts, d.last_status_code, d.last_duration_ms,
  d.last_error, d.next_attempt_at, d.redelivery_of, d.created_at, d.completed_at`;

const toDelivery = (row: DeliveryRow): WebhookDelivery => ({
  id: row.id,
  webhook_id: row.webhook_id,
  event: row.event,
  status: row.status,
  attempts: row.attempts,
  response_status_code: row.last_status_code,
  response_time_ms: row.last_duration_ms,
  last_error: row.last_error,
  next_attempt_at: row.next_attempt_at?.toISOString() ?? null,
  redelivery_of: row.redelivery_of,
  created_at: row.created_at.toISOString(),
  completed_at: row.completed_at?.toISOString() ?? null,
});

/** A delivery an attempt has just been started for: what the sender needs, the secret still sealed. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  event: string;
  /** The `data` exactly as stored (JSON text). */
  dataText: string;
  eventAt: string;
  /** This attempt's number: its result is recorded only while the delivery still has it. */
  attempt: number;
  url: string;
  sealed: SealedSecret | null;
}

interface ClaimedRow {
  id: string;
  webhook_id: string;
  event: string;
  data_text: string;
  event_at: Date;
  attempts: number;
  url: string;
  secret_key_id: string | null;
  secret_nonce: Uint8Array | null;
  secret_ciphertext: Uint8Array | null;
  secret_auth_tag: Uint8Array | null;
}

const toClaimed = (row: ClaimedRow): ClaimedDelivery => ({
  id: row.id,
  webhookId: row.webhook_id,
  event: row.event,
  dataText: row.data_text,
  eventAt: row.event_at.toISOString(),
  attempt: row.attempts,
  url: row.url,
  sealed: sealedOf(row),
});

const CLAIMED_COLUMNS = `d.id, d.webhook_id, d.event, d.data::text AS data_text, d.event_at, d.attempts,
  w.url, w.secret_key_id, w.secret_nonce, w.secret_ciphertext, w.secret_auth_tag`;

export interface AttemptRecord {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
  /** After a failure: seconds until the next attempt, or null to give up now (a ping). */
  retryInSeconds: number | null;
  /** A failed delivery is given up once its next attempt would start this long after it was made. */
  retryForSeconds: number;
}

/** Every statement about deliveries and their attempts. */
export const webhookDeliveryStore = {
  /**
   * One delivery for each active webhook that listens for this event, due now. The key makes a
   * second enqueue of the same occurrence (another replica, a second publish) a no-op. Returns
   * how many were new.
   */
  async enqueue(
    db: Queryable,
    occurrence: { event: string; dedupeKey: string; dataText: string; at: string },
  ): Promise<number> {
    const { rowCount } = await db.query(
      `INSERT INTO webhook_deliveries (webhook_id, event, dedupe_key, data, event_at, next_attempt_at)
       SELECT w.id, $1, $2, $3::json, $4, now() FROM webhooks w
        WHERE w.active AND ($1 = ANY (w.events) OR '*' = ANY (w.events))
       ON CONFLICT (webhook_id, dedupe_key) DO NOTHING`,
      [occurrence.event, occurrence.dedupeKey, occurrence.dataText, occurrence.at],
    );
    return rowCount;
  },

  /** A new delivery of the same event and data, due now; null when there is no such delivery of this webhook. */
  async redeliver(db: Queryable, webhookId: string, deliveryId: string): Promise<WebhookDelivery | null> {
    const { rows } = await db.query<DeliveryRow>(
      `INSERT INTO webhook_deliveries AS d (webhook_id, event, data, event_at, next_attempt_at, redelivery_of)
       SELECT o.webhook_id, o.event, o.data, o.event_at, now(), o.id FROM webhook_deliveries o
        WHERE o.id = $2 AND o.webhook_id = $1
       RETURNING ${DELIVERY_COLUMNS}`,
      [webhookId, deliveryId],
    );
    return rows[0] ? toDelivery(rows[0]) : null;
  },

  /** A ping, its first (and only) attempt started at once, leased for `leaseSeconds`. */
  async insertClaimedPing(
    db: Queryable,
    webhookId: string,
    event: string,
    dataText: string,
    leaseSeconds: number,
  ): Promise<ClaimedDelivery | null> {
    const { rows } = await db.query<ClaimedRow>(
      `WITH d AS (
         INSERT INTO webhook_deliveries (webhook_id, event, data, event_at, attempts, next_attempt_at)
         SELECT w.id, $2, $3::json, now(), 1, now() + make_interval(secs => $4) FROM webhooks w WHERE w.id = $1
         RETURNING *
       )
       SELECT ${CLAIMED_COLUMNS} FROM d JOIN webhooks w ON w.id = d.webhook_id`,
      [webhookId, event, dataText, leaseSeconds],
    );
    return rows[0] ? toClaimed(rows[0]) : null;
  },

  /**
   * Starts an attempt of up to `limit` due deliveries of active webhooks, oldest due first. SKIP
   * LOCKED steps over rows another replica's claim is taking, and the claim moves each one's
   * next_attempt_at a lease ahead in the same statement, so no other claim sees it due until
   * this attempt is recorded or its lease runs out (the sender died): two replicas never send
   * the same attempt. The walk follows webhook_deliveries_due_idx.
   */
  async claimDue(db: Queryable, limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]> {
    const { rows } = await db.query<ClaimedRow>(
      `WITH picked AS (
         SELECT c.id FROM webhook_deliveries c
          WHERE c.status = 'pending' AND c.next_attempt_at <= now()
            AND EXISTS (SELECT 1 FROM webhooks a WHERE a.id = c.webhook_id AND a.active)
          ORDER BY c.next_attempt_at
          LIMIT $1
          FOR UPDATE OF c SKIP LOCKED
       ), d AS (
         UPDATE webhook_deliveries u
            SET attempts = u.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
           FROM picked WHERE u.id = picked.id
         RETURNING u.*
       )
       SELECT ${CLAIMED_COLUMNS} FROM d JOIN webhooks w ON w.id = d.webhook_id`,
      [limit, leaseSeconds],
    );
    return rows.map(toClaimed);
  },

  /**
   * Records how an attempt went, if the delivery still holds this attempt (a sender whose lease
   * ran out while another replica tried again records nothing), and sets what comes next:
   * delivered, another attempt after the backoff, or failed (a ping, or past the retry window).
   * Returns the delivery's new status, or null when the attempt was no longer its own.
   */
  async recordAttempt(db: Queryable, record: AttemptRecord): Promise<WebhookDeliveryStatus | null> {
    const { rows } = await db.query<{ status: WebhookDeliveryStatus }>(
      `WITH next AS (
         SELECT CASE
                  WHEN $3 THEN 'delivered'
                  WHEN $4::double precision IS NULL THEN 'failed'
                  WHEN now() + make_interval(secs => $4) > created_at + make_interval(secs => $5) THEN 'failed'
                  ELSE 'pending'
                END AS status
           FROM webhook_deliveries WHERE id = $1
       ), u AS (
         UPDATE webhook_deliveries d
            SET status = next.status,
                next_attempt_at = CASE WHEN next.status = 'pending' THEN now() + make_interval(secs => $4) END,
                completed_at = CASE WHEN next.status = 'pending' THEN NULL ELSE now() END,
                last_status_code = $6, last_duration_ms = $7, last_error = $8
           FROM next
          WHERE d.id = $1 AND d.attempts = $2 AND d.status = 'pending'
         RETURNING d.id, d.status
       ), a AS (
         INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, status_code, duration_ms, error, response_body)
         SELECT u.id, $2, $9, $6, $7, $8, $10 FROM u
       )
       SELECT status FROM u`,
      [
        record.deliveryId,
        record.attempt,
        record.ok,
        record.retryInSeconds,
        record.retryForSeconds,
        record.statusCode,
        record.durationMs,
        record.error,
        record.startedAt,
        record.responseBody,
      ],
    );
    return rows[0]?.status ?? null;
  },

  async get(db: Queryable, webhookId: string, deliveryId: string): Promise<WebhookDelivery | null> {
    const { rows } = await db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $2 AND d.webhook_id = $1`,
      [webhookId, deliveryId],
    );
    return rows[0] ? toDelivery(rows[0]) : null;
  },

  /** Every attempt of a delivery, oldest first. */
  async attempts(db: Queryable, deliveryId: string): Promise<WebhookDeliveryAttempt[]> {
    const { rows } = await db.query<Omit<WebhookDeliveryAttempt, 'started_at'> & { started_at: Date }>(
      `SELECT attempt, started_at, status_code, duration_ms, error, response_body
         FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt`,
      [deliveryId],
    );
    return rows.map((row) => ({ ...row, started_at: row.started_at.toISOString() }));
  },

  /**
   * Deletes up to `limit` deliveries that ended more than `days` ago (their attempts go with
   * them); returns how many. Pending ones are never touched, however old.
   */
  async pruneEnded(db: Queryable, days: number, limit: number): Promise<number> {
    const { rowCount } = await db.query(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries
          WHERE status <> 'pending' AND completed_at < now() - make_interval(days => $1) LIMIT $2)`,
      [days, limit],
    );
    return rowCount;
  },

  /** A webhook's deliveries, newest first, after the one `afterId` names (the previous page's last). */
  async list(db: Queryable, webhookId: string, limit: number, afterId?: string): Promise<WebhookDelivery[]> {
    const params: unknown[] = [webhookId, limit];
    let where = '';
    if (afterId) {
      params.push(afterId);
      where = `AND (d.created_at, d.id) < (SELECT p.created_at, p.id FROM webhook_deliveries p WHERE p.id = $3)`;
    }
    const { rows } = await db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d
        WHERE d.webhook_id = $1 ${where}
        ORDER BY d.created_at DESC, d.id DESC LIMIT $2`,
      params,
    );
    return rows.map(toDelivery);
  },

  /** Deliveries waiting for an attempt (or in one), over every webhook: the pending gauge. */
  async countPending(db: Queryable): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM webhook_deliveries WHERE status = 'pending'`,
    );
    return rows[0]?.n ?? 0;
  },
};
