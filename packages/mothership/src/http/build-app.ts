import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';

import { BorgError } from '../errors.ts';
import { installRequestMetrics } from '../metrics/request-metrics.ts';
import { installAnswerDeadlines } from './answer-deadline.ts';
import { createAuthHook } from './auth-hook.ts';
import { answerClientError, installErrorHandling, toErrorReply } from './error-handler.ts';
import { adminHandlers } from './handlers/admin-handlers.ts';
import { arrayControlHandlers } from './handlers/array-control-handlers.ts';
import { fileHandlers } from './handlers/file-handlers.ts';
import { idHandlers } from './handlers/id-handlers.ts';
import { installHandlers } from './handlers/install-handlers.ts';
import { jobHandlers } from './handlers/job-handlers.ts';
import { logSearchHandlers } from './handlers/log-search-handlers.ts';
import { pipelineHandlers } from './handlers/pipeline-handlers.ts';
import { runnerHandlers } from './handlers/runner-handlers.ts';
import { scheduleHandlers } from './handlers/schedule-handlers.ts';
import { secretHandlers } from './handlers/secret-handlers.ts';
import { taskHandlers } from './handlers/task-handlers.ts';
import { webhookHandlers } from './handlers/webhook-handlers.ts';
import { installRateLimits, presentedCredential } from './rate-limits.ts';
import { installRawBodies, isRawBody } from './raw-body.ts';
import { registerRouteTable } from './route-table.ts';
import type { Services } from './services.ts';
import { installSlowBodyGuard } from './slow-body-guard.ts';
import type { TlsMaterial } from './tls.ts';
import { webAppRoutes } from './web-app.ts';
import { registerWebSocketRoute } from './websocket-route.ts';

/** JSON bodies are small (a job spec, a heartbeat); larger ones are refused before parsing. */
const JSON_BODY_LIMIT = 1024 * 1024;

/** Removes `token=` from a URL before it is logged (the WebSocket takes it as a query parameter). */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]*/gi, '$1[REDACTED]');
}

/**
 * A request id from a load balancer or proxy in front (`x-request-id`) is kept, so one id
 * follows a request through both logs; anything that is not a plain token of at most 128
 * characters is replaced rather than copied into the logs.
 */
function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : crypto.randomUUID();
}

export interface BuiltApp {
  app: FastifyInstance;
  /** Requests whose response has not ended yet (for a graceful shutdown). */
  inFlight: () => number;
}

/** Builds the HTTP app over the services without listening (tests call `app.inject`). */
export async function buildApp(
  services: Services,
  logger: FastifyServerOptions['logger'] = false,
  tls?: TlsMaterial,
): Promise<BuiltApp> {
  // Slow clients (slowloris, B4): the headers must arrive within the timeout (an idle new
  // connection is cut then too), and a body must keep a minimum rate (installSlowBodyGuard).
  // No limit on a whole request: a 10 GiB upload may take an hour on a slow link, and a
  // long-poll waits up to 120 s without a byte.
  const serverOptions = {
    // Node would answer a missing Host with a bare 400; the hook below answers in Borg's shape.
    requireHostHeader: false,
    headersTimeout: services.config.slowClientTimeoutMs,
    // How often Node checks those deadlines (its default, 30 s, would double them).
    connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(services.config.slowClientTimeoutMs / 4))),
  };
  const app = Fastify({
    logger,
    bodyLimit: JSON_BODY_LIMIT,
    // With a certificate the same options go to an HTTPS server. Fastify's types tie an instance
    // to one server class; everything Borg calls on it (close, connections) both classes have.
    ...((tls ? { https: { ...serverOptions, ...tls } } : { http: serverOptions }) as unknown as {
      http: typeof serverOptions;
    }),
    requestTimeout: 0,
    connectionTimeout: 0,
    // Longer than the 60 s idle timeout of common load balancers, so they close first.
    keepAliveTimeout: 72_000,
    // Only the configured balancers may say who the client is (X-Forwarded-For); anyone else
    // could claim any address and walk around the per-address limits.
    trustProxy: services.config.trustProxy.length > 0 ? services.config.trustProxy : false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    genReqId: (request) => requestIdOf(request.headers['x-request-id']),
    // What Node's HTTP parser refuses before Fastify sees a request (headers too large or too
    // slow, a malformed request line, conflicting lengths), answered in Borg's one error shape.
    clientErrorHandler: answerClientError,
    // A URL the router cannot decode (`%E0%A4%A`) or an over-long path parameter is answered by
    // Fastify before any handler runs; this keeps those answers in Borg's one error shape.
    frameworkErrors: (error, _request, reply) => {
      const { status, code, message } = toErrorReply(error, services.health);
      void (reply as FastifyReply).code(status).send({ error: { code, message } });
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // Responses are built from explicit mappers (toJob, toTask, …); re-validating each one on the
  // way out would cost more than the request, so they are serialised as they are.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app, services.health);

  // The WebSocket plugin goes before the auth hook: its own onRequest hook marks upgrade requests
  // so that its onResponse hook destroys the socket after a refusal. With auth first, a refused
  // upgrade (401/403) would leave the raw socket open for good: a leak any anonymous client
  // could repeat, and one app.close() would wait on forever.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  let inFlight = 0;
  app.addHook('onRequest', async (_request, reply) => {
    inFlight++;
    // 'close' fires once per response, finished or cut off: the one reliable place to count down.
    reply.raw.once('close', () => inFlight--);
  });
  installSlowBodyGuard(app, services.config.slowClientTimeoutMs);
  // Before authentication, which may read the database too. A heartbeat answered within one
  // interval keeps its solder in touch for well under the offline window (three intervals).
  installAnswerDeadlines(app, { heartbeat: services.config.heartbeatIntervalSeconds * 1000 }, services.health);
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && !request.headers.host) {
      throw new BorgError('VALIDATION_FAILED', 'an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)');
    }
  });
  // A route that declares no body takes none (cancel, pause, drain, revoke …): a body sent anyway,
  // misdirected or hostile, is refused rather than silently ignored. `{}` and an empty body pass.
  app.addHook('preValidation', async (request) => {
    // No route: the not-found handler answers 404 naming the route, body or none.
    if (request.routeOptions.url === undefined) return;
    const schema = request.routeOptions.schema as { body?: unknown; consumes?: string[] } | undefined;
    const where = `${request.method} ${request.routeOptions.url}`;
    // The multipart parser leaves the body unread for the handler, so a multipart body sent to a
    // route that does not read one would otherwise pass unnoticed.
    if (request.isMultipart()) {
      if (schema?.consumes?.includes('multipart/form-data')) return;
      const takes = schema?.consumes?.join(' or ') ?? (schema?.body ? 'JSON' : 'no request body');
      throw new BorgError('UNSUPPORTED_MEDIA_TYPE', `${where} takes ${takes}`);
    }
    // Only a route that takes a raw body is given one (installRawBodies refuses it elsewhere).
    if (isRawBody(request.body)) return;
    if (schema?.body !== undefined) return;
    const body: unknown = request.body;
    if (body === undefined || body === null || body === '') return;
    if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
    if (schema?.consumes)
      throw new BorgError('UNSUPPORTED_MEDIA_TYPE', `${where} takes ${schema.consumes.join(' or ')}`);
    throw new BorgError('VALIDATION_FAILED', `${where} takes no request body`);
  });
  const authFailures = await installRateLimits(app, services.config);
  app.decorateRequest('principal', null);
  app.addHook('onRequest', createAuthHook(services.authenticator, authFailures));
  if (authFailures) {
    // Counted once the answer is known, so a token refused by a route (the seed's registration
    // token in the body) counts like one refused by the hook. A request without any token is
    // no guess and is not counted.
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode === 401 && presentedCredential(request)) await authFailures.noteFailure(request);
    });
  }
  installRequestMetrics(app, services.metrics);
  app.addHook('onSend', async (request, reply, payload) => {
    // The id this request has in the logs, so a user's report can be matched to them.
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Borg API', version: '1', description: 'Self-hosted distributed job execution.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(multipart, {
    limits: {
      fileSize: services.config.maxUploadBytes,
      files: 1,
      fields: 10,
      fieldSize: 4096,
      parts: 12,
      headerPairs: 50,
    },
  });
  installRawBodies(app);
  registerRouteTable(
    app,
    {
      ...adminHandlers(services),
      ...jobHandlers(services),
      ...arrayControlHandlers(services),
      ...pipelineHandlers(services),
      ...taskHandlers(services),
      ...runnerHandlers(services),
      ...fileHandlers(services),
      ...idHandlers(services),
      ...secretHandlers(services),
      ...scheduleHandlers(services),
      ...installHandlers(services),
      ...webhookHandlers(services),
      ...logSearchHandlers(services),
    },
    // Prometheus figures say how busy the fleet is, which labels have work waiting and how many
    // runners exist: not secrets, but not for everyone either, unless a scraper on a private
    // network is allowed in without a token.
    { access: { metrics: services.config.metricsPublic ? 'public' : 'viewer' }, audit: services.audit },
  );

  await app.register(webAppRoutes, {});

  app.get('/api/docs', { schema: { hide: true } }, async () => app.swagger());

  registerWebSocketRoute(app, services, authFailures);

  return { app, inFlight: () => inFlight };
}
