import { z } from 'zod';

import { Id, page, Timestamp } from './common.ts';

/**
 * What a webhook may be told about. Job events fire once per ending of a job (a retried job that
 * ends again fires again), task events once per attempt, runner events once per change between
 * offline and online. `job.skipped` is the ending of a job whose dependency can no longer be met.
 */
export const WEBHOOK_EVENTS = [
  'job.succeeded',
  'job.failed',
  'job.cancelled',
  'job.skipped',
  'task.failed',
  'task.lost',
  'runner.offline',
  'runner.online',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Subscribes to every event, including ones added in later releases. */
export const ALL_WEBHOOK_EVENTS = '*';

/** The event of the test delivery `POST /webhooks/:id/ping` sends; never subscribed to. */
export const PING_EVENT = 'ping';

const KNOWN_EVENTS: readonly string[] = [...WEBHOOK_EVENTS, ALL_WEBHOOK_EVENTS];

export const WebhookEventName = z
  .string()
  .refine((name) => KNOWN_EVENTS.includes(name), {
    error: (issue) =>
      `unknown event ${JSON.stringify(issue.input)}; the events are ${KNOWN_EVENTS.join(', ')} (* is every event)`,
  })
  .transform((name) => name as WebhookEvent | typeof ALL_WEBHOOK_EVENTS);

export const MAX_WEBHOOK_URL_LENGTH = 2048;
export const MIN_WEBHOOK_SECRET_LENGTH = 16;
export const MAX_WEBHOOK_SECRET_LENGTH = 1024;

/**
 * Where deliveries go: an http(s) URL without credentials in it (they would be stored and shown
 * in clear; put a token in the path or query, or rely on the signature). Which addresses it may
 * reach is the mothership's rule (BORG_WEBHOOK_ALLOW_PRIVATE), checked when it is created and
 * again on every connection.
 */
export const WebhookUrl = z
  .string()
  .max(MAX_WEBHOOK_URL_LENGTH, `a webhook URL is at most ${MAX_WEBHOOK_URL_LENGTH} characters`)
  .superRefine((text, context) => {
    const problem = webhookUrlProblem(text);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

/** Why a URL cannot be a webhook's, or null when it can (its address is checked elsewhere). */
export function webhookUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'url must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `url must be http:// or https://, not ${url.protocol}//`;
  }
  if (url.username || url.password) {
    return 'url must not carry a user name or password (they would be stored and shown in clear)';
  }
  if (!url.hostname) return 'url must name a host';
  return null;
}

export const WebhookSecret = z
  .string()
  .min(
    MIN_WEBHOOK_SECRET_LENGTH,
    `a webhook secret is at least ${MIN_WEBHOOK_SECRET_LENGTH} characters; leave it out and one is generated`,
  )
  .max(MAX_WEBHOOK_SECRET_LENGTH, `a webhook secret is at most ${MAX_WEBHOOK_SECRET_LENGTH} characters`);

const WebhookEvents = z
  .array(WebhookEventName)
  .min(1, 'a webhook needs at least one event')
  .max(KNOWN_EVENTS.length * 2)
  .transform((events) => [...new Set(events)]);

export const CreateWebhookRequest = z.strictObject({
  url: WebhookUrl,
  events: WebhookEvents,
  /** Signs each delivery (X-Borg-Signature). Left out: one is generated and returned once. */
  secret: WebhookSecret.optional(),
});
export type CreateWebhookRequest = z.input<typeof CreateWebhookRequest>;

export const UpdateWebhookRequest = z
  .strictObject({
    url: WebhookUrl.optional(),
    events: WebhookEvents.optional(),
    /** A new secret; null removes it (deliveries are then sent unsigned). */
    secret: WebhookSecret.nullable().optional(),
    /** An inactive webhook is sent nothing; its queued deliveries wait until it is active again. */
    active: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'give at least one of url, events, secret, active');
export type UpdateWebhookRequest = z.input<typeof UpdateWebhookRequest>;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export const WebhookDeliveryStatus = z.enum(WEBHOOK_DELIVERY_STATUSES);
export type WebhookDeliveryStatus = z.infer<typeof WebhookDeliveryStatus>;

/** A webhook as the API shows it: never its secret, only whether it has one. */
export const Webhook = z.object({
  id: Id,
  url: z.string(),
  events: z.array(z.string()),
  active: z.boolean(),
  secret_set: z.boolean(),
  /** The newest delivery's state, for lists; null before the first. */
  last_delivery: z
    .object({ status: WebhookDeliveryStatus, at: Timestamp, response_status_code: z.number().int().nullable() })
    .nullable(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Webhook = z.infer<typeof Webhook>;

/** The answer to creation: the generated secret, shown this once (null when the caller chose one). */
export const CreatedWebhook = Webhook.extend({ secret: z.string().nullable() });
export type CreatedWebhook = z.infer<typeof CreatedWebhook>;

export const WebhookList = z.object({ items: z.array(Webhook), next_cursor: z.null() });
export type WebhookList = z.infer<typeof WebhookList>;

/**
 * One event sent to one webhook, over one or more attempts. The last attempt's answer is shown
 * here (status code, time, error); `next_attempt_at` is when a pending one is tried next.
 */
export const WebhookDelivery = z.object({
  id: Id,
  webhook_id: Id,
  event: z.string(),
  status: WebhookDeliveryStatus,
  attempts: z.number().int(),
  response_status_code: z.number().int().nullable(),
  response_time_ms: z.number().int().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: Timestamp.nullable(),
  /** The delivery this one sends again (a redelivery), or null. */
  redelivery_of: Id.nullable(),
  created_at: Timestamp,
  completed_at: Timestamp.nullable(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** One attempt of a delivery and how the receiver answered it (no status code: no answer came). */
export const WebhookDeliveryAttempt = z.object({
  attempt: z.number().int(),
  started_at: Timestamp,
  status_code: z.number().int().nullable(),
  duration_ms: z.number().int(),
  error: z.string().nullable(),
  /** The start of the answer's body (2 KiB at most), as text. */
  response_body: z.string().nullable(),
});
export type WebhookDeliveryAttempt = z.infer<typeof WebhookDeliveryAttempt>;

/** A delivery with every attempt made of it, oldest first. */
export const WebhookDeliveryDetail = WebhookDelivery.extend({ attempt_log: z.array(WebhookDeliveryAttempt) });
export type WebhookDeliveryDetail = z.infer<typeof WebhookDeliveryDetail>;

export const WebhookDeliveryPage = page(WebhookDelivery);
export type WebhookDeliveryPage = z.infer<typeof WebhookDeliveryPage>;

export const ListWebhookDeliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
});

export const WebhookParams = z.strictObject({ id: z.guid('id must be a webhook id') });
export const WebhookDeliveryParams = z.strictObject({
  id: z.guid('id must be a webhook id'),
  delivery_id: z.guid('delivery_id must be a delivery id'),
});

/**
 * The JSON body of every delivery. `id` is the delivery's (also in X-Borg-Delivery); a
 * redelivery has its own id and the same `created_at`, the time of the event. `data` is the job,
 * task or runner as the API shows it at that time (the webhook itself for a ping).
 */
export const WebhookPayload = z.object({
  id: Id,
  event: z.string(),
  created_at: Timestamp,
  data: z.record(z.string(), z.unknown()),
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;

/** Headers of every delivery. The signature is `sha256=` and the hex HMAC-SHA256 of the body's bytes. */
export const WEBHOOK_HEADERS = {
  event: 'x-borg-event',
  delivery: 'x-borg-delivery',
  signature: 'x-borg-signature',
} as const;
