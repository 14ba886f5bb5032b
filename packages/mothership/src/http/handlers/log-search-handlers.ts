import { Readable } from 'node:stream';

import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

/** GET /jobs/:id/logs/search: the matches as NDJSON, streamed as they are found. */
export function logSearchHandlers({ jobs }: Services): Handlers<'searchJobLogs'> {
  return {
    searchJobLogs: async (request, reply) => {
      const found = await jobs.searchLogs(request.params.id, request.query);
      const lines = Readable.from(
        (async function* () {
          for await (const item of found) yield `${JSON.stringify(item)}\n`;
        })(),
      );
      return reply.type('application/x-ndjson; charset=utf-8').send(lines);
    },
  };
}
