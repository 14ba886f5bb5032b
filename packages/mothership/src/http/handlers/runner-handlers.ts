import { BorgError } from '../../errors.ts';
import { runnerIdOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function runnerHandlers({
  sessions,
  dispatcher,
  authenticator,
}: Services): Handlers<
  | 'listRunners'
  | 'getRunner'
  | 'runnerTasks'
  | 'drainRunner'
  | 'resumeRunner'
  | 'approveRunner'
  | 'deleteRunner'
  | 'register'
  | 'heartbeat'
  | 'nextTasks'
> {
  return {
    listRunners: async (request) => sessions.list(request.query),
    getRunner: async (request) => sessions.get(request.params.id),
    runnerTasks: async (request) => ({ items: await sessions.heldTasks(request.params.id) }),
    drainRunner: async (request) => sessions.setDraining(request.params.id, true),
    resumeRunner: async (request) => sessions.setDraining(request.params.id, false),
    approveRunner: async (request) => sessions.approve(request.params.id),
    deleteRunner: async (request) => sessions.delete(request.params.id),

    register: async (request) => {
      if (!request.principal) {
        // No Authorization header: the seed's body field is the last chance.
        const principal = await authenticator.authenticate(request.body.token);
        if (!principal) throw new BorgError('UNAUTHORIZED', 'a registration token is required (Authorization: Bearer)');
        if (principal.kind !== 'registration')
          throw new BorgError('FORBIDDEN', 'registration needs a registration token');
        request.principal = principal;
      }
      return sessions.register(request.body, request.principal);
    },
    heartbeat: async (request) => sessions.heartbeat(request.params.id, request.body),
    nextTasks: async (request, reply) => {
      const runnerId = runnerIdOf(request);
      const hangUp = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) hangUp.abort();
      });
      // A runner that hung up while its token was being checked has already had its 'close',
      // which will not come again: it must not stay parked and be handed a task.
      if (request.raw.destroyed || request.raw.socket?.destroyed) hangUp.abort();
      const { max, wait, job_types: jobTypes } = request.query;
      const result = await dispatcher.next(runnerId, max, wait, hangUp.signal, jobTypes);
      if (!result) return reply.code(204).send(null);
      return reply.code(200).send(result);
    },
  };
}
