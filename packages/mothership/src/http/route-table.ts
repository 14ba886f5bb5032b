import type { AuditAction } from '@borg/protocol';
import {
  type Access,
  ErrorBody,
  errorStatusesOf,
  MEDIA_TYPE_OF_BODY,
  type OperationName,
  RAW_RESPONSE,
  type RouteDefinition,
  type RouteInput,
  type RouteResult,
  type Routes,
  routes,
} from '@borg/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

import type { AuditLog } from '../audit/audit-log.ts';

/**
 * A handler of one operation, typed by its table entry: the request's params, query and body are
 * what the entry's schemas give after validation. It returns the answer (sent with the entry's
 * only success status, or 200), or the reply when it sets the status or streams a body itself.
 */
export type Handler<R extends RouteDefinition> = (
  request: FastifyRequest<RouteInput<R>>,
  reply: FastifyReply,
) => Promise<RouteResult<R> | FastifyReply>;

export type Handlers<K extends OperationName = OperationName> = { [N in K]: Handler<Routes[N]> };

export interface RouteTableOptions {
  /** Access that depends on the server's configuration (`/metrics` is public when asked). */
  access?: Partial<Record<OperationName, Access>>;
  /** Where the calls of routes with an `audit` action are recorded. */
  audit?: AuditLog;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The object an audited call created (its answer's id), when its path names none. */
    auditObjectId?: string;
  }
}

/** Registers every operation of the protocol's route table with its handler. */
export function registerRouteTable(app: FastifyInstance, handlers: Handlers, options: RouteTableOptions = {}): void {
  for (const [name, definition] of Object.entries(routes) as [OperationName, RouteDefinition][]) {
    const access = options.access?.[name] ?? definition.access;
    const successStatuses = Object.keys(definition.responses)
      .map(Number)
      .filter((status) => status < 300);
    const handler = handlers[name] as unknown as Handler<RouteDefinition>;
    app.route({
      method: definition.method,
      url: definition.path,
      bodyLimit: definition.bodyLimit,
      config: { access },
      ...(definition.audit && options.audit ? auditHooks(definition.audit, options.audit) : {}),
      schema: withoutUndefined({
        operationId: name,
        tags: [definition.tag],
        summary: definition.summary,
        description: `Access: ${access}.`,
        params: definition.params,
        querystring: definition.query,
        body: definition.body,
        consumes:
          definition.bodyKind && definition.bodyKind !== 'json' ? [MEDIA_TYPE_OF_BODY[definition.bodyKind]] : undefined,
        response: responseSchemas(definition),
      }),
      handler: async (request: FastifyRequest<RouteInput<RouteDefinition>>, reply: FastifyReply) => {
        const answer = await handler(request, reply);
        if (answer === reply) return reply;
        if (successStatuses.length === 1) reply.code(successStatuses[0]!);
        return answer;
      },
    });
  }
}

/**
 * Records every call of an audited route once it is answered, refused ones included: the object
 * is the one the path names, or the one the answer describes (`id` of a created job, file, token).
 */
function auditHooks(action: AuditAction, audit: AuditLog) {
  return {
    preSerialization: async (request: FastifyRequest, _reply: FastifyReply, payload: unknown) => {
      const id = (payload as { id?: unknown } | null)?.id;
      if (typeof id === 'string') request.auditObjectId = id;
      return payload;
    },
    onResponse: async (request: FastifyRequest, reply: FastifyReply) => {
      const params = request.params as { id?: unknown } | undefined;
      audit.record({
        action,
        principal: request.principal,
        address: request.ip,
        objectId: typeof params?.id === 'string' ? params.id : (request.auditObjectId ?? null),
        status: reply.statusCode,
        requestId: request.id,
      });
    },
  };
}

/** A body that is not JSON (a file, Prometheus text), documented as such and never serialised. */
const RawBody = z.string().describe('not JSON: the bytes as the route summary describes');

function responseSchemas(definition: RouteDefinition): Record<number, z.ZodType> {
  const schemas: Record<number, z.ZodType> = {};
  for (const [status, response] of Object.entries(definition.responses)) {
    schemas[Number(status)] = response === RAW_RESPONSE ? RawBody : response;
  }
  for (const status of errorStatusesOf(definition)) schemas[status] = ErrorBody;
  return schemas;
}

/** Fastify warns about a schema key that is present but undefined, so absent ones are left out. */
function withoutUndefined<T extends Record<string, unknown>>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}
