import { z } from 'zod';

import { ErrorCode } from '../error-codes.ts';
import { Job, Task } from './jobs.ts';
import { LogLine } from './logs.ts';
import { Runner } from './runners.ts';

/**
 * Topics a WebSocket client can subscribe to:
 * - `jobs`: every job.updated, task.updated and jobs.deleted;
 * - `job:<id>`: one job's job.updated, task.updated and jobs.deleted;
 * - `runners`: every runner.updated;
 * - `task:<id>`: one task's task.updated and task.log (its new log lines).
 */
export const TOPIC_PATTERN = /^(jobs|runners|job:[A-Za-z0-9-]{1,64}|task:[A-Za-z0-9-]{1,64})$/;
export const Topic = z.string().regex(TOPIC_PATTERN, 'topics are jobs, runners, job:<id> or task:<id>');

/**
 * Where a client stands in a replica's event stream: `<epoch>.<seq>`, from an event's `id` or a
 * `subscribed` message. Clients treat it as opaque and only send it back in `since`.
 */
export const EventId = z.string().regex(/^[A-Za-z0-9_-]{1,32}\.[0-9]{1,15}$/, 'an id from an event or `subscribed`');

/**
 * A client without an `Authorization` header on the upgrade (a browser cannot set one) signs in
 * with its first message, `auth`, instead of a token in the URL, where proxies and browser
 * history would keep it. Until then the server answers nothing and closes the socket after a few
 * seconds; `authenticated` confirms it. Messages sent right after `auth` are handled after it.
 */
export const ClientMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(1024) }),
  /**
   * `since` resumes topics after a reconnect: for each topic named, the last id the client
   * received; the server sends the events it missed or a `resync` for that topic. A topic in
   * `since` must be in `topics`.
   */
  z.strictObject({
    type: z.literal('subscribe'),
    topics: z.array(Topic).min(1).max(100),
    since: z.record(Topic, EventId).optional(),
  }),
  z.strictObject({ type: z.literal('unsubscribe'), topics: z.array(Topic).min(1).max(100) }),
  z.strictObject({ type: z.literal('ping') }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const TaskLogEvent = z.object({ task_id: z.string(), lines: z.array(LogLine) });
export type TaskLogEvent = z.infer<typeof TaskLogEvent>;

/**
 * Why a topic cannot be resumed: its events since that id are no longer held (`too_old`), would
 * be more than a client may be sent at once (`too_large`), or the id is not from this replica
 * since it started (`unknown_epoch`: another replica behind the load balancer, or a restart).
 */
export const ResyncReason = z.enum(['too_old', 'too_large', 'unknown_epoch']);
export type ResyncReason = z.infer<typeof ResyncReason>;

/**
 * Events carry `id`, increasing on each topic; the current state a `task:<id>` subscription
 * starts with carries none (it is read, not an event).
 */
export const ServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('job.updated'), topic: z.string(), id: z.string().optional(), data: Job }),
  z.object({ type: z.literal('task.updated'), topic: z.string(), id: z.string().optional(), data: Task }),
  z.object({ type: z.literal('runner.updated'), topic: z.string(), id: z.string().optional(), data: Runner }),
  z.object({ type: z.literal('task.log'), topic: z.string(), id: z.string().optional(), data: TaskLogEvent }),
  /** Jobs deleted (by a person or by retention): gone with their tasks, logs and artifacts. */
  z.object({
    type: z.literal('jobs.deleted'),
    topic: z.string(),
    id: z.string().optional(),
    data: z.object({ ids: z.array(z.string()) }),
  }),
  /** `id`: where the subscription starts; the events after it on these topics follow. */
  z.object({ type: z.literal('subscribed'), topics: z.array(z.string()), id: z.string().optional() }),
  /** A topic of `since` that cannot be resumed: refetch what it shows; its events follow from now. */
  z.object({ type: z.literal('resync'), topic: z.string(), reason: ResyncReason }),
  z.object({ type: z.literal('unsubscribed'), topics: z.array(z.string()) }),
  z.object({ type: z.literal('pong') }),
  z.object({ type: z.literal('authenticated') }),
  z.object({ type: z.literal('error'), error: z.object({ code: ErrorCode, message: z.string() }) }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Why the server closed a WebSocket, beyond the standard codes (1008 flood, 1013 too slow). */
export const WebSocketCloseCode = {
  /** No `auth` message in time, or its token is unknown, revoked or expired. */
  unauthenticated: 4401,
  /** A token that may not open the live channel (a runner or registration token). */
  forbidden: 4403,
  /** Too many failed authentications from this address, or too many sockets for this token. */
  rateLimited: 4429,
  /** The token was revoked or expired while the socket was open. */
  tokenRevoked: 4001,
} as const;
