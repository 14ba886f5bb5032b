import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

import type { MothershipConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import { WebhookEnqueuer } from './webhook-enqueuer.ts';
import { WebhookMetrics } from './webhook-metrics.ts';
import { WebhookSender } from './webhook-sender.ts';
import { WebhookService } from './webhook-service.ts';
import { WebhookWorker } from './webhook-worker.ts';

export interface Webhooks {
  service: WebhookService;
  worker: WebhookWorker;
  /** Stops the worker (attempts under way are recorded), waits for enqueues, closes connections. */
  close(): Promise<void>;
}

/**
 * Wires webhooks on this replica: the enqueuer that turns events published here into
 * deliveries, the worker that sends due ones (started unless `worker` is false), the service the
 * API calls, and their metrics. Secrets sealed under a previous key are re-encrypted first.
 */
export async function startWebhooks(
  db: Database,
  bus: EventBus,
  cipher: SecretCipher,
  registry: Registry,
  log: Logger,
  config: MothershipConfig,
  options: { worker?: boolean } = {},
): Promise<Webhooks> {
  const metrics = new WebhookMetrics(db, registry);
  const sender = new WebhookSender({ timeoutMs: config.webhookTimeoutMs, allowPrivate: config.webhookAllowPrivate });
  // The worker is made next; the enqueuer only calls this after start-up.
  const enqueuer = new WebhookEnqueuer(db, bus, log, () => worker.kick());
  const worker = new WebhookWorker(db, sender, cipher, () => enqueuer.anyActive, metrics, log, {
    pollMs: config.maintenanceTickMs,
    timeoutMs: config.webhookTimeoutMs,
    retry: {
      baseMs: config.webhookRetryBaseMs,
      maxMs: config.webhookRetryMaxMs,
      forSeconds: config.webhookRetryForSeconds,
    },
  });
  const service = new WebhookService(db, bus, cipher, enqueuer, worker, { allowPrivate: config.webhookAllowPrivate });
  const { resealed, unreadable } = await service.resealUnderCurrentKey();
  if (resealed > 0) log.info({ resealed }, 'webhook secrets re-encrypted with the current key');
  if (unreadable > 0) log.warn({ unreadable }, 'webhook secrets sealed under a key this mothership does not have');
  await enqueuer.reload();
  if (options.worker !== false) worker.start();
  return {
    service,
    worker,
    close: async () => {
      await worker.stop();
      await enqueuer.close();
      await sender.close();
    },
  };
}
