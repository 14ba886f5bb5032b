import type { z } from 'zod';

import type { AuditAction } from './schemas/audit.ts';

/** What a user token may do, each role holding every right of the ones before it. */
export const ROLES = ['viewer', 'submitter', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The role that may change any job. Below it, a submitter changes only the jobs it submitted
 * (the routes' access says who may call them; this rule is about which job).
 */
export const ROLE_TO_CHANGE_ANY_JOB: Role = 'operator';

export function roleAtLeast(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/**
 * Who may call a route, in one word:
 * - `public`: anyone (health checks only);
 * - a role (`viewer` … `admin`): a user token holding at least that role;
 * - `runner`: a runner token, and only for the runner named in `:id` under `/runners/:id`;
 * - `registration`: a registration token, or a runner token re-registering its own device;
 * - `viewer-or-runner`: a viewer, or a runner for what it holds (the handler checks which).
 */
export type Access = 'public' | Role | 'runner' | 'registration' | 'viewer-or-runner';

/**
 * How the body travels: `json` (the default, validated by `body`), `multipart` (streamed to the
 * handler, which reads the parts itself), or `octet-stream` (the raw bytes of one file, handed
 * to the handler unread as a stream; what describes them travels in the query). The client has
 * a hand-written method for the last two.
 */
export type BodyKind = 'json' | 'multipart' | 'octet-stream';

/** The media type each body kind is sent as. */
export const MEDIA_TYPE_OF_BODY: Record<BodyKind, string> = {
  json: 'application/json',
  multipart: 'multipart/form-data',
  'octet-stream': 'application/octet-stream',
};

/**
 * A response that is not JSON (a file's bytes, Prometheus text): served and documented like
 * any other, called through a hand-written client method that returns the raw `Response`.
 */
export const RAW_RESPONSE = 'raw';

type Response = z.ZodType | typeof RAW_RESPONSE;

/** One operation of the API: everything the server, the client and the OpenAPI document need. */
export interface RouteDefinition {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The full path, parameters as `:name`. */
  path: string;
  access: Access;
  tag: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  bodyKind?: BodyKind;
  /** The largest request body taken, in bytes, where it differs from the server's default. */
  bodyLimit?: number;
  /** Success answers by status; a `z.null()` one has no body (the client resolves it to null). */
  responses: Record<number, Response>;
  /** Error statuses this route answers beyond the ones every route may (see `errorStatusesOf`). */
  errors?: readonly number[];
  /**
   * The audit log's name for a call of this route (`job.cancel`): every call, answered or
   * refused, is recorded. Routes that change nothing and hand out no bytes have none.
   */
  audit?: AuditAction;
}

/** Keeps the literal types of a definition, so the client and handlers are typed by it. */
export function route<const R extends RouteDefinition>(definition: R): R {
  return definition;
}

/**
 * The error statuses of a route, documented with `ErrorBody`: 400 when it takes input, 401 and
 * 403 unless it is public, 404 when its path names something, plus the route's own.
 */
export function errorStatusesOf(definition: RouteDefinition): number[] {
  const statuses = new Set<number>(definition.errors ?? []);
  if (definition.params || definition.query || definition.body || definition.bodyKind) statuses.add(400);
  if (definition.access !== 'public') statuses.add(401).add(403);
  if (definition.params) statuses.add(404);
  return [...statuses].sort((a, b) => a - b);
}

/** The names of a path's parameters, in order: `/runners/:id/tasks` gives `['id']`. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z_]\w*)/g)].map((match) => match[1]!);
}

/** A path with its parameters filled in, each one URL-encoded. */
export function fillPath(path: string, values: readonly string[]): string {
  let next = 0;
  return path.replace(/:([A-Za-z_]\w*)/g, () => encodeURIComponent(values[next++] ?? ''));
}

// --- types derived from a definition -------------------------------------------------------------

type PathParamList<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? [Name, ...PathParamList<`/${Rest}`>]
  : P extends `${string}:${infer Name}`
    ? [Name]
    : [];

type AllStrings<T extends unknown[]> = { [I in keyof T]: string };

/** One string per path parameter. */
type PathArgs<P extends string> = AllStrings<PathParamList<P>>;

type Input<S> = S extends z.ZodType ? z.input<S> : never;

/**
 * A query as a client fills it: each field optional, as its validated type (a number, a list)
 * or as the text the query string carries. (A schema's input type is `unknown` wherever it
 * coerces that text, so it cannot serve here.)
 */
export type QueryInput<S> = S extends z.ZodType ? { [K in keyof z.output<S>]?: z.output<S>[K] | string } : never;

/** After the path parameters: the body when there is one, else the query when there is one. */
type PayloadArgs<R extends RouteDefinition> = R['body'] extends z.ZodType
  ? R['query'] extends z.ZodType
    ? [body: Input<R['body']>, query?: QueryInput<R['query']>]
    : [body: Input<R['body']>]
  : R['query'] extends z.ZodType
    ? [query?: QueryInput<R['query']>]
    : [];

export interface CallOptions {
  signal?: AbortSignal;
}

/** The arguments of a route's client method: path parameters, payload, then options. */
export type RouteArgs<R extends RouteDefinition> = [...PathArgs<R['path']>, ...PayloadArgs<R>, options?: CallOptions];

type SuccessStatus = 200 | 201 | 202 | 204;

type Output<S> = S extends z.ZodNull ? null : S extends z.ZodType ? z.output<S> : never;

/** What a route's client method resolves to: any of its success bodies (null for a bodiless one). */
export type RouteResult<R extends RouteDefinition> = {
  [S in keyof R['responses'] & SuccessStatus]: Output<R['responses'][S]>;
}[keyof R['responses'] & SuccessStatus];

/** The request a handler receives, typed by the definition (after validation and defaults). */
export interface RouteInput<R extends RouteDefinition> {
  Params: R['params'] extends z.ZodType ? z.output<R['params']> : unknown;
  Querystring: R['query'] extends z.ZodType ? z.output<R['query']> : unknown;
  Body: R['body'] extends z.ZodType ? z.output<R['body']> : unknown;
}
