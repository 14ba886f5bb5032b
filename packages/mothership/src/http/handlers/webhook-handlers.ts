import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function webhookHandlers({
  webhooks,
}: Services): Handlers<
  | 'createWebhook'
  | 'listWebhooks'
  | 'getWebhook'
  | 'updateWebhook'
  | 'deleteWebhook'
  | 'listWebhookDeliveries'
  | 'getWebhookDelivery'
  | 'redeliverWebhookDelivery'
  | 'pingWebhook'
> {
  return {
    createWebhook: async (request) => webhooks.create(request.body, principalOf(request)),
    listWebhooks: async () => webhooks.list(),
    getWebhook: async (request) => webhooks.get(request.params.id),
    updateWebhook: async (request) => webhooks.update(request.params.id, request.body),
    deleteWebhook: async (request) => webhooks.remove(request.params.id),
    listWebhookDeliveries: async (request) => webhooks.deliveries(request.params.id, request.query),
    getWebhookDelivery: async (request) => webhooks.delivery(request.params.id, request.params.delivery_id),
    redeliverWebhookDelivery: async (request) => webhooks.redeliver(request.params.id, request.params.delivery_id),
    pingWebhook: async (request) => webhooks.ping(request.params.id),
  };
}
