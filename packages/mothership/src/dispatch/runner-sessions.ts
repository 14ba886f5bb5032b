import type {
  HeartbeatRequest,
  HeartbeatResponse,
  ListRunnersQuery,
  RegisterRunnerRequest,
  RegisterRunnerResponse,
  Runner,
  RunnerPage,
  Task,
} from '@borg/protocol';
import type { z } from 'zod';

import type { Principal } from '../auth/principal.ts';
import { tokenStore } from '../auth/token-store.ts';
import type { Database, Queryable } from '../db/database.ts';
import { BorgError, notFound } from '../errors.ts';
import type { EventBus } from '../events/event-bus.ts';
import { taskStore, toTask } from '../jobs/task-store.ts';
import { keysetPage } from '../paging.ts';
import { labelsBeyond } from '../runners/allowed-labels.ts';
import { gpuSampleStore } from '../runners/gpu-sample-store.ts';
import { runnerAttributes } from '../runners/runner-attributes.ts';
import { runnerStore } from '../runners/runner-store.ts';
import { MISSED_HEARTBEATS_BEFORE_OFFLINE } from './maintenance.ts';
import type { Queue } from './queue.ts';

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
    /** New runners wait for an operator's approval before they get work (BORG_RUNNER_APPROVAL). */
    private readonly approvalRequired = false,
  ) {}

  /** The silence after which a runner is offline and its tasks run elsewhere; its solder stops them then (on_disconnect). */
  private get offlineAfterSeconds(): number {
    return this.heartbeatIntervalSeconds * MISSED_HEARTBEATS_BEFORE_OFFLINE;
  }

  /** Newest first, one keyset page at a time. */
  list(query: z.output<typeof ListRunnersQuery>): Promise<RunnerPage> {
    return keysetPage(
      query,
      2,
      (limit, after) => runnerStore.list(this.db, limit, after ? { createdAt: after[0]!, id: after[1]! } : undefined),
      (runner) => [runner.created_at, runner.id],
      (runners) => runners,
    );
  }

  async get(id: string): Promise<Runner> {
    const runner = await runnerStore.get(this.db, id);
    if (!runner) throw notFound('runner', id);
    return runner;
  }

  /** The tasks the runner holds now (assigned or running). */
  async heldTasks(id: string): Promise<Task[]> {
    await this.get(id);
    return (await taskStore.heldByRunner(this.db, id)).map(toTask);
  }

  /**
   * Registers a device, or re-registers a known one under the same id. A re-registration is a
   * new session: the old token stops working at once, and whatever the old session held is
   * lost (its process is gone) and retried while attempts remain (F7).
   *
   * Who may: a new device needs a registration token with a use left; a known one its own
   * runner token or the registration token that first registered it; a deleted one nobody.
   * The labels must stay within what that first registration token allows.
   */
  async register(request: ValidRegistration, principal: Principal): Promise<RegisterRunnerResponse> {
    const { id, existed, token, revokedIds, orphaned, cameOnline } = await this.db.transaction(async (tx) => {
      const known = await runnerStore.lockByDevice(tx, request.device_id);
      const registeredWith = await this.authorizeRegistration(tx, request, principal, known);
      const capacity = request.capacity ?? null;
      const upserted = await runnerStore.upsert(tx, {
        device_id: request.device_id,
        name: request.name,
        hostname: request.hostname,
        os: request.os,
        arch: request.arch,
        version: request.version ?? null,
        protocol_version: request.protocol_version,
        max_concurrent_tasks: request.max_concurrent_tasks,
        labels: request.labels,
        resources: request.resources,
        capacity,
        attributes: runnerAttributes({ ...request, capacity }),
        job_types: request.job_types ? [...new Set(request.job_types)] : null,
        registered_with: registeredWith,
        approved: !this.approvalRequired,
      });
      // Another registration of this new device committed between our lock and insert.
      if (!upserted || upserted.existed !== (known !== null)) {
        throw new BorgError('CONFLICT', `device ${request.device_id} was registered at the same time; try again`);
      }
      const { id, existed } = upserted;
      const { token, revokedIds } = await tokenStore.replaceRunnerToken(tx, id, request.name);
      const orphaned = existed ? await taskStore.heldByRunner(tx, id) : [];
      return { id, existed, token, revokedIds, orphaned, cameOnline: known === null || known.offline };
    });
    for (const tokenId of revokedIds) this.bus.publish({ type: 'token.revoked', token_id: tokenId });
    for (const task of orphaned) {
      await this.queue.endTaskByServer(task.id, {
        status: 'lost',
        reason: 'runner_restarted',
        error: 'the runner registered again, so the process running this attempt is gone',
      });
    }
    const runner = await this.publish(id, cameOnline);
    if (!existed || runner.status !== 'draining') {
      this.bus.publish({ type: 'tasks.available', count: runner.max_concurrent_tasks, labels: null });
    }
    return {
      id,
      token,
      heartbeat_interval_seconds: this.heartbeatIntervalSeconds,
      offline_after_seconds: this.offlineAfterSeconds,
      runner,
    };
  }

  /**
   * Two reads, side by side: the runner's row, updated (and returned for the event), and its
   * held tasks with their cancel flags; abandon, reconcile and cancel lists come from those.
   * A heartbeat stays one round of two reads, so heartbeats do not queue for connections under
   * a large fleet, where a late heartbeat makes a runner look offline. A `stopping` heartbeat
   * is the solder's last (it stopped cleanly): the runner is offline, stopped, at once.
   */
  async heartbeat(runnerId: string, request: ValidHeartbeat): Promise<HeartbeatResponse> {
    // GPU samples first, so the runner this heartbeat publishes shows them.
    if (request.gpus?.length) await gpuSampleStore.record(this.db, runnerId, request.gpus);
    const [beat, held] = await Promise.all([
      runnerStore.heartbeat(this.db, runnerId, request.resources, request.status === 'stopping'),
      taskStore.heldForHeartbeat(this.db, runnerId, this.heartbeatIntervalSeconds),
    ]);
    if (!beat) throw notFound('runner', runnerId);

    let abandon: string[] = [];
    let kept: string[] = [];
    let forgotten = new Set<string>();
    if (request.task_ids) {
      const heldIds = new Set(held.map((t) => t.id));
      const mentioned = new Set(request.task_ids);
      abandon = request.task_ids.filter((id) => !heldIds.has(id));
      // Copies its jobs keep running while their element has not succeeded (on_disconnect keep).
      if (abandon.length > 0) kept = await taskStore.keptCopiesOf(this.db, runnerId, abandon);
      abandon = abandon.filter((id) => !kept.includes(id));
      const unmentioned = held.filter((t) => !mentioned.has(t.id) && t.past_grace);
      forgotten = new Set(unmentioned.map((t) => t.id));
      if (unmentioned.length > 0) await this.reconcile(runnerId, unmentioned);
    }
    // A forgotten task was just released or ended: it is not this runner's to cancel any more.
    const cancels = held.filter((t) => t.cancel_requested && !forgotten.has(t.id)).map((t) => t.id);
    const cameOnline = beat.wasOffline && beat.runner.status !== 'offline';
    this.bus.publish({ type: 'runner.updated', runner: beat.runner, ...(cameOnline ? { came_online: true } : {}) });
    if (beat.wasOffline && beat.runner.status !== 'offline')
      this.bus.publish({ type: 'tasks.available', count: null, labels: null });
    return {
      ok: true,
      heartbeat_interval_seconds: this.heartbeatIntervalSeconds,
      offline_after_seconds: this.offlineAfterSeconds,
      draining: beat.draining,
      cancel_task_ids: cancels,
      abandon_task_ids: abandon,
      kept_task_ids: kept,
    };
  }

  /** Lets a runner waiting for approval take work. Approving an approved runner changes nothing. */
  async approve(runnerId: string): Promise<Runner> {
    if (!(await runnerStore.approve(this.db, runnerId))) throw notFound('runner', runnerId);
    const runner = await this.publish(runnerId);
    this.bus.publish({ type: 'tasks.available', count: runner.max_concurrent_tasks, labels: null });
    return runner;
  }

  /**
   * Deletes a runner: its tokens stop working at once on every replica, it leaves every list,
   * its device may not register again, and the tasks it held are lost and retried elsewhere.
   * Returns the runner as it was.
   */
  async delete(runnerId: string): Promise<Runner> {
    const { runner, revokedIds, held } = await this.db.transaction(async (tx) => {
      const runner = await runnerStore.get(tx, runnerId);
      if (!runner || !(await runnerStore.markDeleted(tx, runnerId))) throw notFound('runner', runnerId);
      const revokedIds = await tokenStore.revokeRunnerTokens(tx, runnerId);
      return { runner, revokedIds, held: await taskStore.heldByRunner(tx, runnerId) };
    });
    for (const tokenId of revokedIds) this.bus.publish({ type: 'token.revoked', token_id: tokenId });
    for (const task of held) {
      await this.queue.endTaskByServer(task.id, {
        status: 'lost',
        reason: 'runner_deleted',
        error: 'an operator deleted the runner that held this attempt',
      });
    }
    const gone: Runner = { ...runner, status: 'offline', active_tasks: 0 };
    this.bus.publish({ type: 'runner.updated', runner: gone });
    return gone;
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
  private async reconcile(
    runnerId: string,
    forgotten: ReadonlyArray<{ id: string; status: 'assigned' | 'running' }>,
  ): Promise<void> {
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

  /**
   * Checks that this principal may register this device with these labels, spending one use of
   * a registration token on a new device. Returns the registration token the runner answers to.
   */
  private async authorizeRegistration(
    tx: Queryable,
    request: ValidRegistration,
    principal: Principal,
    known: { id: string; registered_with: string | null; deleted: boolean } | null,
  ): Promise<string | null> {
    if (known?.deleted) {
      throw new BorgError(
        'FORBIDDEN',
        `the runner of device ${request.device_id} was deleted; a new state directory registers the machine as a new runner`,
      );
    }
    let registeredWith: string | null;
    if (known) {
      const ownToken = principal.kind === 'runner' && principal.runnerId === known.id;
      // Runners registered before registration tokens were tracked answer to any of them.
      const firstToken =
        principal.kind === 'registration' &&
        (known.registered_with === null || known.registered_with === principal.tokenId);
      if (!ownToken && !firstToken) {
        throw new BorgError(
          'FORBIDDEN',
          `device ${request.device_id} is registered already: register it again with its runner token or the registration token that first registered it`,
        );
      }
      registeredWith = known.registered_with ?? (principal.kind === 'registration' ? principal.tokenId : null);
    } else {
      if (principal.kind !== 'registration') {
        throw new BorgError('FORBIDDEN', 'a new device registers with a registration token');
      }
      if (!(await tokenStore.useForRegistration(tx, principal.tokenId))) {
        throw new BorgError(
          'FORBIDDEN',
          'this registration token has registered as many runners as its max_uses allows',
        );
      }
      registeredWith = principal.tokenId;
    }
    const allowed = registeredWith ? await tokenStore.allowedLabelsOf(tx, registeredWith) : null;
    const beyond = labelsBeyond(request.labels, allowed);
    if (beyond.length > 0) {
      throw new BorgError(
        'FORBIDDEN',
        `the registration token does not allow the labels ${beyond.join(', ')} (allowed: ${JSON.stringify(allowed)})`,
      );
    }
    return registeredWith;
  }

  private async publish(runnerId: string, cameOnline = false): Promise<Runner> {
    const runner = await runnerStore.get(this.db, runnerId);
    if (!runner) throw notFound('runner', runnerId);
    this.bus.publish({ type: 'runner.updated', runner, ...(cameOnline ? { came_online: true } : {}) });
    return runner;
  }
}
