import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

/** Id prefixes, as people type them, to the ids they name. */
export function idHandlers({ ids }: Services): Handlers<'resolveIds'> {
  return {
    resolveIds: async (request) => ({ items: await ids.resolve(request.query.prefix, request.query.kind) }),
  };
}
