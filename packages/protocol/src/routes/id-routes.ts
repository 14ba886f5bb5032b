import { route } from '../route-definition.ts';
import { ResolvedIds, ResolveIdsQuery } from '../schemas/id-prefixes.ts';
import { API_PREFIX } from './api-prefix.ts';

/** Ids as people type them: the first characters of one, as `borg jobs show 389e0e` takes it. */
export const idRoutes = {
  resolveIds: route({
    method: 'GET',
    path: `${API_PREFIX}/resolve`,
    access: 'viewer',
    tag: 'ids',
    summary: 'The jobs, tasks or runners whose id starts with a prefix (at most 10)',
    query: ResolveIdsQuery,
    responses: { 200: ResolvedIds },
  }),
};
