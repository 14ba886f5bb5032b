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
 * A client without an `Authorization` header on the upgrade (a browser cannot set one) signs in
 * with its first message, `auth`, instead of a token in the URL, where proxies and browser
 * history would keep it. Until then the server answers nothing and closes the socket after a few
 * seconds; `authenticated` confirms it. Messages sent right after `auth` are handled after it.
 */
export const ClientMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(1024) }),
  z.strictObject({ type: z.literal('subscribe'), topics: z.array(Topic).min(1).max(100) }),
  z.strictObject({ type: z.literal('unsubscribe'), topics: z.array(Topic).min(1).max(100) }),
  z.strictObject({ type: z.literal('ping') }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const TaskLogEvent = z.object({ task_id: z.string(), lines: z.array(LogLine) });
export type TaskLogEvent = z.infer<typeof TaskLogEvent>;

export const ServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('job.updated'), topic: z.string(), data: Job }),
  z.object({ type: z.literal('task.updated'), topic: z.string(), data: Task }),
  z.object({ type: z.literal('runner.updated'), topic: z.string(), data: Runner }),
  z.object({ type: z.literal('task.log'), topic: z.string(), data: TaskLogEvent }),
  /** Jobs deleted (by a person or by retention): gone with their tasks, logs and artifacts. */
  z.object({ type: z.literal('jobs.deleted'), topic: z.string(), data: z.object({ ids: z.array(z.string()) }) }),
  z.object({ type: z.literal('subscribed'), topics: z.array(z.string()) }),
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
