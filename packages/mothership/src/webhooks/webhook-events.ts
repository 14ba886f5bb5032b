import type { WebhookEvent } from '@borg/protocol';

import type { BorgEvent } from '../events/event-bus.ts';

/** A bus event as a webhook sees it: its name, a key naming this occurrence, and its data. */
export interface WebhookOccurrence {
  event: WebhookEvent;
  /**
   * The same for every publish of one occurrence, on any replica, and different for the next
   * one (a job that ends, is retried and ends again): built from ids and the times the change
   * stamped on the row, never from the time of the publish.
   */
  dedupeKey: string;
  data: object;
  /** When it happened, for the body's created_at. */
  at: string;
}

const JOB_ENDINGS: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'skipped']);
const TASK_ENDINGS: ReadonlySet<string> = new Set(['failed', 'lost']);

/**
 * The webhook event name a bus event would be, from its type and status alone: what the
 * enqueuer checks against the subscriptions before anything else, so an event nobody listens
 * for costs one comparison or two.
 */
export function webhookEventNameOf(event: BorgEvent): WebhookEvent | null {
  switch (event.type) {
    case 'job.updated':
      return JOB_ENDINGS.has(event.job.status) ? (`job.${event.job.status}` as WebhookEvent) : null;
    case 'task.updated':
      return TASK_ENDINGS.has(event.task.status) ? (`task.${event.task.status}` as WebhookEvent) : null;
    case 'runner.updated':
      if (event.runner.status === 'offline') return 'runner.offline';
      return event.came_online ? 'runner.online' : null;
    default:
      return null;
  }
}

/** The occurrence a bus event is, or null when it is none a webhook can hear of. */
export function webhookOccurrenceOf(event: BorgEvent): WebhookOccurrence | null {
  const name = webhookEventNameOf(event);
  if (!name) return null;
  switch (event.type) {
    case 'job.updated': {
      const at = event.job.completed_at ?? event.job.updated_at;
      return { event: name, dedupeKey: `${name}:${event.job.id}:${at}`, data: event.job, at };
    }
    case 'task.updated': {
      const at = event.task.completed_at ?? event.task.created_at;
      return { event: name, dedupeKey: `${name}:${event.task.id}`, data: event.task, at };
    }
    case 'runner.updated': {
      // The heartbeat before going offline stays the runner's last until it comes back, and the
      // one that brought it back is stamped by that same change: either names one transition.
      const stamp = event.runner.last_heartbeat ?? event.runner.created_at;
      const at = new Date().toISOString();
      return { event: name, dedupeKey: `${name}:${event.runner.id}:${stamp}`, data: event.runner, at };
    }
    default:
      return null;
  }
}
