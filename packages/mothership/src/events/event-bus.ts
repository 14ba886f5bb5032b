import { EventEmitter } from 'node:events';

import type { Job, JobType, LogLine, Runner, Task } from '@borg/protocol';

/**
 * Everything that happens in Borg that someone may be waiting for. The public ones reach
 * WebSocket clients; the internal ones wake long-polls and close sockets.
 */
export type BorgEvent =
  | { type: 'job.updated'; job: Job }
  | { type: 'task.updated'; task: Task }
  /** `came_online`: this change brought an offline runner back (a heartbeat or a registration). */
  | { type: 'runner.updated'; runner: Runner; came_online?: boolean }
  | { type: 'task.log'; task_id: string; lines: LogLine[] }
  /** Jobs deleted with their tasks, logs and artifacts (at most 100 ids: the event fits a NOTIFY). */
  | { type: 'jobs.deleted'; ids: string[] }
  /**
   * Tasks became claimable: long-polling runners should try again. `count` and `labels` (the
   * labels those tasks require) let the dispatcher wake only runners that can take them; null
   * means "unknown", and wakes every waiting runner.
   */
  | {
      type: 'tasks.available';
      count: number | null;
      labels: Record<string, string> | null;
      /** The job type of the tasks, when they are all of one: only runners taking it are woken. */
      jobType?: JobType;
      /** Only this runner may take them now (resources it holds were freed): only it is woken. */
      runnerId?: string;
    }
  /** A live task's cancellation was requested: its runner should hear of it now. */
  | { type: 'task.cancel_requested'; runner_id: string; task_id: string }
  /** A credential stopped being valid: caches drop it and its WebSockets close. */
  | { type: 'token.revoked'; token_id: string }
  /** A schedule was created, changed, deleted or fired: every replica's scheduler re-arms its timer. */
  | { type: 'schedules.changed'; schedule_id: string }
  /** A webhook was created, changed or deleted: every replica reads the subscriptions again. */
  | { type: 'webhooks.changed' };

export type BorgEventType = BorgEvent['type'];
export type EventOf<T extends BorgEventType> = Extract<BorgEvent, { type: T }>;

/** Carries events between replicas (LISTEN/NOTIFY); absent when there is only one process. */
export interface EventTransport {
  send(event: BorgEvent): Promise<void>;
}

/**
 * One bus per process. Local subscribers hear an event at once; a transport, when attached,
 * carries it to the other replicas, whose buses deliver it to their own subscribers.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();
  private transport: EventTransport | undefined;
  private readonly publishedHere = new Set<(event: BorgEvent) => void>();

  constructor(private readonly onTransportError: (error: unknown) => void = () => undefined) {
    // Every long-poll and every WebSocket adds a listener; the default cap of 10 is for leaks
    // in ordinary code, not for a hub.
    this.emitter.setMaxListeners(0);
  }

  attachTransport(transport: EventTransport): void {
    this.transport = transport;
  }

  /** Publishes after the change it describes is committed, never before. */
  publish(event: BorgEvent): void {
    this.deliver(event);
    for (const listener of this.publishedHere) listener(event);
    this.transport?.send(event).catch(this.onTransportError);
  }

  publishAll(events: readonly BorgEvent[]): void {
    for (const event of events) this.publish(event);
  }

  /** Delivers an event that came from another replica to this process's subscribers only. */
  deliver(event: BorgEvent): void {
    this.emitter.emit(event.type, event);
    this.emitter.emit('*', event);
  }

  on<T extends BorgEventType>(type: T, listener: (event: EventOf<T>) => void): () => void {
    const wrapped = listener as (event: BorgEvent) => void;
    this.emitter.on(type, wrapped);
    return () => this.emitter.off(type, wrapped);
  }

  onAny(listener: (event: BorgEvent) => void): () => void {
    this.emitter.on('*', listener);
    return () => this.emitter.off('*', listener);
  }

  /**
   * Hears the events this process publishes, not the ones other replicas send: for work done
   * once per event, where it happened (enqueuing webhook deliveries). The listener runs inside
   * publish(), so it must be cheap and must not throw.
   */
  onPublished(listener: (event: BorgEvent) => void): () => void {
    this.publishedHere.add(listener);
    return () => this.publishedHere.delete(listener);
  }
}
