import type {
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterRunnerRequest,
  RegisterRunnerResponse,
  Runner,
} from '@borg/protocol';
import type { z } from 'zod';

import { tokenStore } from '../auth/token-store.ts';
import type { Database } from '../db/database.ts';
import { notFound } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
import { runnerStore } from '../runners/runner-store.ts';
import type { Queue } from './queue.ts';
import { taskStore } from './task-store.ts';

type ValidRegistration = z.output<typeof RegisterRunnerRequest>;
type ValidHeartbeat = z.output<typeof HeartbeatRequest>;

/**
 * A runner's session with the server: registration, heartbeats, drain. This is where the
 * runner area and the queue meet: a heartbeat answer lists the runner's tasks to cancel, and a
 * re-registration ends the previous session's tasks.
 */
export class RunnerSessions {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly queue: Queue,
    private readonly heartbeatIntervalSeconds: number,
  ) {}

  /**
   * Registers a device, or re-registers a known one under the same id. A re-registration is a
   * new session: the old token stops working at once, and whatever the old session held is
   * lost (its process is gone) and retried while attempts remain (F7).
   */
  async register(request: ValidRegistration): Promise<RegisterRunnerResponse> {
    const { id, existed, token, revokedIds, orphaned } = await this.db.transaction(async (tx) => {
      const { id, existed } = await runnerStore.upsert(tx, {
        device_id: request.device_id,
        name: request.name,
        hostname: request.hostname,
        os: request.os,
        arch: request.arch,
        version: request.version ?? null,
        max_concurrent_tasks: request.max_concurrent_tasks,
        labels: request.labels,
        resources: request.resources,
      });
      const { token, revokedIds } = await tokenStore.replaceRunnerToken(tx, id, request.name);
      const orphaned = existed ? await taskStore.heldByRunner(tx, id) : [];
      return { id, existed, token, revokedIds, orphaned };
    });
    for (const tokenId of revokedIds) this.bus.publish({ type: 'token.revoked', token_id: tokenId });
    for (const task of orphaned) {
      await this.queue.endTaskByServer(task.id, {
        status: 'lost',
        reason: 'runner_restarted',
        error: 'the runner registered again, so the process running this attempt is gone',
      });
    }
    const runner = await this.publish(id);
    if (!existed || runner.status !== 'draining') {
      this.bus.publish({ type: 'tasks.available', count: runner.max_concurrent_tasks, labels: null });
    }
    return { id, token, heartbeat_interval_seconds: this.heartbeatIntervalSeconds, runner };
  }

  async heartbeat(runnerId: string, request: ValidHeartbeat): Promise<HeartbeatResponse> {
    const beat = await runnerStore.heartbeat(this.db, runnerId, request.resources);
    if (!beat) throw notFound('runner', runnerId);

    let abandon: string[] = [];
    if (request.task_ids) {
      abandon = await taskStore.notHeldBy(this.db, runnerId, request.task_ids);
      await this.reconcile(runnerId, request.task_ids);
    }
    const cancels = await this.queue.cancelRequestsOf(runnerId);
    await this.publish(runnerId);
    if (beat.wasOffline) this.bus.publish({ type: 'tasks.available', count: null, labels: null });
    return {
      ok: true,
      heartbeat_interval_seconds: this.heartbeatIntervalSeconds,
      draining: beat.draining,
      cancel_task_ids: cancels,
      abandon_task_ids: abandon,
    };
  }

  async setDraining(runnerId: string, draining: boolean): Promise<Runner> {
    if (!(await runnerStore.setDraining(this.db, runnerId, draining))) throw notFound('runner', runnerId);
    const runner = await this.publish(runnerId);
    if (!draining) this.bus.publish({ type: 'tasks.available', count: runner.max_concurrent_tasks, labels: null });
    return runner;
  }

  /**
   * The heartbeat lists the tasks the solder is running. A task the server thinks it holds but
   * that it does not mention (past a grace of one heartbeat interval, so a claim answer still
   * in flight is not mistaken for one) was never received, or was forgotten: a never-started
   * one goes back to the queue unspent, a started one is lost and retried.
   */
  private async reconcile(runnerId: string, mentioned: readonly string[]): Promise<void> {
    const forgotten = await taskStore.unmentionedHeld(this.db, runnerId, mentioned, this.heartbeatIntervalSeconds);
    const neverStarted = forgotten.filter((t) => t.status === 'assigned').map((t) => t.id);
    await this.queue.release(runnerId, neverStarted);
    for (const task of forgotten.filter((t) => t.status === 'running')) {
      await this.queue.endTaskByServer(task.id, {
        status: 'lost',
        reason: 'runner_lost',
        error: 'the runner no longer reports this attempt as running',
      });
    }
  }

  private async publish(runnerId: string): Promise<Runner> {
    const runner = await runnerStore.get(this.db, runnerId);
    if (!runner) throw notFound('runner', runnerId);
    this.bus.publish({ type: 'runner.updated', runner });
    return runner;
  }
}
