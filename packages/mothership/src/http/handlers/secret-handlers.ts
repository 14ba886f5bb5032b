import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function secretHandlers({ secrets }: Services): Handlers<'putSecret' | 'listSecrets' | 'deleteSecret'> {
  return {
    putSecret: async (request, reply) => {
      const { info, created } = await secrets.put(request.params.name, request.body.value, principalOf(request));
      return reply.code(created ? 201 : 200).send(info);
    },
    listSecrets: async () => secrets.list(),
    deleteSecret: async (request) => secrets.remove(request.params.name),
  };
}
