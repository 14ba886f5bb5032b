import { RAW_RESPONSE, route } from '../route-definition.ts';
import { LogSearchQuery } from '../schemas/log-search.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

/** Searching the logs of a job's tasks on the server. */
export const logSearchRoutes = {
  searchJobLogs: route({
    method: 'GET',
    path: `${API_PREFIX}/jobs/:id/logs/search`,
    access: 'viewer',
    tag: 'jobs',
    summary:
      'Search the logs of every task and element of a job with a regular expression; NDJSON, one match a line, then {"done": true, "cut_short", "reason"}',
    params: idParams('job'),
    query: LogSearchQuery,
    responses: { 200: RAW_RESPONSE },
  }),
};
