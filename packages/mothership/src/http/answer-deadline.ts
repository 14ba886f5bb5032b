import type { FastifyInstance } from 'fastify';

import type { DatabaseHealth } from '../db/database-health.ts';
import { BorgError } from '../errors.ts';

/**
 * Operations answered within a bound even while the database does not answer (a frozen or
 * swamped PostgreSQL), in milliseconds by operation id. A heartbeat left hanging looks, to its
 * solder, exactly like a partition, and a solder out of touch for the offline window stops its
 * tasks (packages/solder/src/disconnect-guard.ts). Past the bound the call is answered
 * `503 DATABASE_UNAVAILABLE`, which the solder counts as contact, and the failure is noted, so
 * the reaper waits a whole window before it calls anyone offline: what the 503 promises.
 * The work already sent to the database still runs; its late result is dropped.
 */
export function installAnswerDeadlines(
  app: FastifyInstance,
  deadlines: Readonly<Record<string, number>>,
  health: Pick<DatabaseHealth, 'noteFailure'>,
): void {
  app.addHook('onRequest', (request, reply, done) => {
    const operation = (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
    const deadlineMs = operation === undefined ? undefined : deadlines[operation];
    if (deadlineMs === undefined) return done();
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      health.noteFailure();
      request.log.warn({ operation, deadlineMs }, 'no answer from the database in time: answered 503');
      void reply.send(
        new BorgError('DATABASE_UNAVAILABLE', `the database did not answer within ${deadlineMs} ms; retry shortly`),
      );
    }, deadlineMs);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
    done();
  });
}
