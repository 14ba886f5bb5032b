import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function arrayControlHandlers({
  arrays,
}: Services): Handlers<
  'updateJob' | 'listJobElements' | 'retryElement' | 'cancelElement' | 'retryElements' | 'cancelElements'
> {
  return {
    updateJob: async (request) => arrays.updateJob(request.params.id, request.body, principalOf(request)),
    listJobElements: async (request) => arrays.elements(request.params.id),
    retryElement: async (request) =>
      arrays.retry(request.params.id, { indexes: [request.params.index], single: true }, principalOf(request)),
    cancelElement: async (request) =>
      arrays.cancel(request.params.id, { indexes: [request.params.index], single: true }, principalOf(request)),
    retryElements: async (request) => arrays.retry(request.params.id, request.body, principalOf(request)),
    cancelElements: async (request) => arrays.cancel(request.params.id, request.body, principalOf(request)),
  };
}
