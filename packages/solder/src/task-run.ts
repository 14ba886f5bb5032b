import { join } from 'node:path';

import {
  type BorgClient,
  type ClaimedTask,
  createSecretMasker,
  formatByteSize,
  type SecretMasker,
  signalName,
  type TakeOverResponse,
  type TaskStatusRequest,
} from '@borg/protocol';

import { collectArtifacts, type FoundArtifact, type SkippedArtifact, uploadArtifacts } from './artifacts.ts';
import type { Executor, ExitStatus, RunningTask } from './executors/executor.ts';
import type { GpuTelemetry } from './gpu-telemetry.ts';
import type { InputCache, InputLease } from './input-files.ts';
import type { LogBatchSender } from './log-batch-sender.ts';
import { LogStreamer } from './log-streamer.ts';
import { hasCode, sleep, withRetry } from './retry.ts';
import { NOT_OURS, type StatusReports } from './status-reports.ts';
import type { TaskUser, TaskUsers } from './task-user.ts';
import { Workspace, type WorkspaceOwner } from './workspace.ts';

export interface TaskRunContext {
  client: BorgClient;
  /** Where log batches go (packed where the mothership takes them). */
  logs: Pick<LogBatchSender, 'send'>;
  /** Where status reports go: batched with the other tasks' (status-reports.ts). */
  reports: StatusReports;
  executorFor: (task: ClaimedTask) => Executor;
  inputs: InputCache;
  workRoot: string;
  spoolDir: string;
  graceMs: number;
  keepWorkspaces: 'never' | 'failed' | 'always';
  /** Who tasks run as (see task-user.ts). */
  users: TaskUsers;
  /** True when this machine has GPUs: a task assigned none is then shown none. */
  gpuMachine: () => boolean;
  /** Samples the GPUs a task holds, from its start to its end. */
  gpuTelemetry?: Pick<GpuTelemetry, 'hold' | 'release'>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** A take-over refused because the runner is still offline there is tried again this often, this long. */
const TAKE_OVER_TRIES = 30;
const TAKE_OVER_WAIT_MS = 1000;

/** Why a task was stopped before it ended by itself. */
type StopReason = 'cancelled' | 'timed_out' | 'agent_stop' | 'disconnected' | 'abandoned';

type Ending = Pick<TaskStatusRequest, 'status' | 'exit_code' | 'error' | 'signal' | 'stopped_because'>;

/**
 * One task on this machine, from claim to final report: workspace, inputs, `running`, the
 * process with its timeout, logs, artifacts, the result. The result is reported only after
 * every log line and artifact is stored, so "succeeded" means the output is all there.
 *
 * The task's secrets reach the process as environment variables and nothing else: their values
 * are masked in every line of its output, in Borg's own lines, in the error it is reported with
 * and in what the solder logs about it, and an artifact whose path holds one is not uploaded. A
 * task whose job names a secret the mothership could not give (deleted, unreadable) is not started.
 */
export class TaskRun {
  /** The attempt this process is; a kept copy taken over becomes a new attempt (takeOver). */
  id: string;
  /** Told when `id` changes, so the tasks running here are listed under the new one. */
  onIdChange: ((oldId: string, newId: string) => void) | undefined;
  readonly done: Promise<void>;
  private process: RunningTask | undefined;
  private stopReason: StopReason | undefined;
  private streamer: LogStreamer | undefined;
  private readonly masker: SecretMasker;
  /** Why the task failed for its log's size (log_overflow `fail`); null while it has not. */
  private logOverflow: string | null = null;
  /** How long the solder had been out of touch when it stopped the task (disconnected). */
  private outOfTouchS = 0;
  /** The mothership took the attempt back while this kept copy ran on (on_disconnect keep). */
  private detached = false;
  /** The task's inputs, kept in the solder's cache until it ends. */
  private inputs: InputLease | undefined;

  constructor(
    private readonly context: TaskRunContext,
    readonly task: ClaimedTask,
  ) {
    this.id = task.id;
    this.masker = createSecretMasker(Object.values(task.secrets));
    this.done = this.run().catch((error: unknown) => {
      context.log('task run failed unexpectedly', { task_id: this.id, err: this.masker.mask(String(error)) });
    });
  }

  /** The user cancelled the job. */
  cancel(): void {
    this.stop('cancelled');
  }

  /** The server no longer gives this task to us (lost, timed out there): kill it, report nothing. */
  abandon(): void {
    this.stop('abandoned');
  }

  /** The solder is shutting down and will not wait for this task. */
  shutdown(): void {
    this.stop('agent_stop');
  }

  /** Whether the task was abandoned: the mothership no longer gives it to us, and nothing more is said about it. */
  private get dropped(): boolean {
    return this.stopReason === 'abandoned';
  }

  /** Whether the task is being stopped (or dropped) already. */
  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  /**
   * How long this task may run on while the solder is out of touch with the mothership: its
   * job's on_disconnect (`keep`: for ever; `stop_after`, but never less than two heartbeat
   * intervals, since a solder in touch hears from the mothership only once an interval), else
   * the mothership's offline window.
   */
  stopAfterOutOfTouchMs(window: { offlineAfterMs: number; heartbeatIntervalMs: number }): number {
    const policy = this.task.on_disconnect;
    if (policy?.keep) return Infinity;
    if (policy?.stop_after_seconds == null) return window.offlineAfterMs;
    return Math.max(policy.stop_after_seconds * 1000, 2 * window.heartbeatIntervalMs);
  }

  /**
   * The mothership took this attempt back while the solder was cut off, and its job keeps such
   * copies (on_disconnect keep): the process runs on, its log is held, and if it succeeds first it
   * is taken over (takeOver); if the element succeeds elsewhere first, it is abandoned.
   */
  detach(): void {
    if (this.detached || this.stopReason) return;
    this.detached = true;
    this.streamer?.hold();
    this.context.log('the mothership took this task back while we were cut off; it runs on (on_disconnect keep)', {
      task_id: this.id,
    });
  }

  /** The solder has been out of touch with the mothership for longer than this task may run on (disconnect-guard.ts). */
  disconnect(outOfTouchMs: number): void {
    if (this.stopReason) return;
    this.outOfTouchS = Math.round(outOfTouchMs / 1000);
    this.streamer?.system(`borg: stopped: this runner could not reach the mothership for ${this.outOfTouchS} s`);
    this.stop('disconnected');
  }

  private stop(reason: StopReason): void {
    // Abandoning overrides any other reason (nothing may be reported); otherwise the first wins.
    if (this.stopReason && reason !== 'abandoned') return;
    this.stopReason = reason;
    if (reason === 'abandoned') this.streamer?.close();
    void this.process?.stop(reason === 'abandoned' ? 0 : this.context.graceMs);
  }

  /** The log went past its limit: a job with log_overflow `fail` fails the task (the rest truncate it). */
  private logOverflowed(): void {
    if (this.task.log_overflow !== 'fail' || this.stopReason) return;
    this.logOverflow = `its log passed its limit of ${formatByteSize(this.task.log_limit ?? 0)} (log_overflow: fail)`;
    this.streamer?.system(`borg: stopped: ${this.logOverflow}`);
    this.stop('cancelled');
  }

  private async run(): Promise<void> {
    const user = this.context.users.acquire();
    this.context.gpuTelemetry?.hold(
      this.id,
      this.task.gpus.map((gpu) => gpu.index),
    );
    try {
      await this.runAs(user);
    } finally {
      await this.inputs?.release();
      this.context.gpuTelemetry?.release(this.id);
      await this.context.users.release(user);
    }
  }

  /**
   * Who owns the workspace: the task's user for shell and binary tasks; for a container, the
   * uid it runs as (`--user`, else root, the image's usual user) when the solder can give it.
   */
  private workspaceOwner(user: TaskUser): WorkspaceOwner | undefined {
    if (this.task.type !== 'container') return user.switches ? user : undefined;
    if (process.getuid?.() !== 0) return undefined;
    const [uid, gid] = (this.task.user ?? '0:0').split(':').map(Number);
    return { uid: uid!, gid: gid ?? uid! };
  }

  private async runAs(user: TaskUser): Promise<void> {
    const { log } = this.context;
    const workspace = await Workspace.create(this.context.workRoot, this.id, this.workspaceOwner(user));
    const streamer = new LogStreamer({
      send: (batch) => this.context.logs.send(this.id, batch),
      spillPath: join(this.context.spoolDir, `${this.id}.jsonl`),
      masker: this.masker,
      logLimitBytes: this.task.log_limit ?? null,
      onOverflow: () => this.logOverflowed(),
      onRejected: (error) => {
        log('the server refused our log lines: dropping the task', { task_id: this.id, code: error.code });
        this.abandon();
      },
      onHeld: this.task.on_disconnect?.keep ? () => this.detach() : undefined,
    });
    this.streamer = streamer;
    let ending: Ending | null;
    try {
      ending = await this.execute(workspace, streamer, user);
    } catch (error) {
      ending = { status: 'failed', error: `borg: ${(error as Error).message}` };
      streamer.system(ending.error!);
    }

    // Nothing of the task may still run while its artifacts are read (a process it left behind
    // could swap a file for a link meanwhile), nor outlive it on a uid given to the next task.
    await this.context.users.killLeftovers(user);
    if (this.stopReason !== 'abandoned') {
      let logs = await streamer.finish();
      // A kept copy whose attempt was taken back meanwhile: first success wins (takeOver).
      if (ending && this.task.on_disconnect?.keep && (this.detached || !(await this.stillHeld()))) {
        ending = await this.takeOver(ending);
        // Dropped: nothing of the copy is on the record, so nothing is missing from it.
        logs = ending ? await streamer.finish() : { complete: true };
      }
      if (!logs.complete) log('the log of this task is incomplete on the server', { task_id: this.id });
      if (ending && ending.status === 'succeeded' && this.task.artifacts.length > 0) {
        ending = await this.storeArtifacts(workspace, streamer, ending);
      }
      // The `running` report may have been refused meanwhile: then nothing more is said.
      if (ending && !this.dropped) await this.report(ending);
    } else {
      streamer.close();
    }

    const keep =
      this.context.keepWorkspaces === 'always' ||
      (this.context.keepWorkspaces === 'failed' && ending?.status !== 'succeeded');
    if (!keep) await workspace.remove().catch(() => undefined);
    else await workspace.retire().catch(() => undefined);
  }

  /** Inputs, `running`, the process: returns how it ended, or null when it was abandoned. */
  private async execute(workspace: Workspace, streamer: LogStreamer, user: TaskUser): Promise<Ending | null> {
    const { task } = this;
    if (task.missing_secrets.length > 0) {
      const message = `borg: the task was not started: the mothership could not give it these secrets of the job: ${task.missing_secrets.join(', ')}`;
      streamer.system(message);
      return { status: 'failed', error: message };
    }
    if (task.files.length > 0) {
      try {
        this.inputs = await this.context.inputs.place(task.files, workspace);
      } catch (error) {
        const message = `borg: could not fetch input files: ${(error as Error).message}`;
        streamer.system(message);
        return { status: 'failed', error: message };
      }
    }
    if (this.stopReason) return this.endingForStop(null);

    // The process starts at once, its `running` report beside it; the ending may follow before
    // that report is answered (status-reports.ts keeps them in order, or sends them together).
    // Refused (the mothership took the task back, or it is not ours), the report abandons the
    // task, which kills the process and drops its ending; a report that fails otherwise stops
    // the process, and its error ends the task.
    let runningFailure: unknown;
    void this.report({ status: 'running' }).catch((error: unknown) => {
      runningFailure = error;
      this.stop('cancelled');
    });
    this.process = await this.startProcess(this.context.executorFor(task), workspace, streamer, user);
    // A stop requested while the process was starting applies now.
    if (this.stopReason) void this.process.stop(this.stopReason === 'abandoned' ? 0 : this.context.graceMs);

    const timer =
      task.timeout_seconds !== null ? setTimeout(() => this.stop('timed_out'), task.timeout_seconds * 1000) : undefined;
    const exit = await this.process.exited;
    clearTimeout(timer);
    if (runningFailure) throw runningFailure;
    return this.stopReason ? this.endingForStop(exit) : endingOfExit(exit);
  }

  private startProcess(executor: Executor, workspace: Workspace, streamer: LogStreamer, user: TaskUser) {
    const { task } = this;
    return executor.start(
      {
        taskId: task.id,
        jobId: task.job_id,
        type: task.type,
        command: task.command,
        image: task.image,
        env: task.env,
        secrets: task.secrets,
        containerUser: task.user ?? null,
        user,
        gpus: task.gpus,
        gpuMachine: this.context.gpuMachine(),
        workDir: workspace.dir,
      },
      { stdout: (chunk) => streamer.write('stdout', chunk), stderr: (chunk) => streamer.write('stderr', chunk) },
    );
  }

  /** Whether the mothership still gives this attempt to us (a repeat of `running` is a no-op); false once taken back. */
  private async stillHeld(): Promise<boolean> {
    try {
      await withRetry(() => this.context.client.reportTaskStatus(this.id, { status: 'running' }));
      return true;
    } catch (error) {
      if (hasCode(error, 'STALE_TASK')) return false;
      throw error;
    }
  }

  /**
   * The kept copy of an attempt the mothership took back ended. If it succeeded, ask to make it
   * the element's attempt (first success wins: the mothership supersedes the copy it runs
   * elsewhere); its held log, artifacts and success then go to that attempt. Anything else, or a
   * refusal (the element succeeded elsewhere first, the job was cancelled), drops it unreported.
   */
  private async takeOver(ending: Ending): Promise<Ending | null> {
    this.detach();
    const drop = (why: string) => {
      this.context.log(`dropping the kept copy: ${why}`, { task_id: this.id });
      this.stopReason = 'abandoned';
      this.streamer?.close();
      return null;
    };
    if (ending.status !== 'succeeded') return drop(`it ended ${ending.status}, and only a success is taken over`);
    let answer: TakeOverResponse | undefined;
    // 409 CONFLICT: this runner is still offline on the mothership until its next heartbeat.
    for (let tries = 0; !answer; tries++) {
      try {
        answer = await withRetry(() => this.context.client.takeOverTask(this.id));
      } catch (error) {
        if (hasCode(error, 'CONFLICT') && tries < TAKE_OVER_TRIES) {
          await sleep(TAKE_OVER_WAIT_MS);
          continue;
        }
        if (hasCode(error, 'STALE_TASK', 'FORBIDDEN', 'TASK_NOT_FOUND', 'CONFLICT')) {
          return drop((error as Error).message);
        }
        throw error;
      }
    }
    const previous = this.id;
    this.id = answer.task.id;
    this.onIdChange?.(previous, this.id);
    this.streamer?.retarget();
    this.streamer?.system(
      `borg: attempt ${answer.task.attempt} is attempt ${this.task.attempt} (task ${previous}), which ran on here while this runner was cut off from the mothership and succeeded first (on_disconnect keep)`,
    );
    this.context.log('the kept copy succeeded first and was taken over', { task_id: this.id, was: previous });
    return ending;
  }

  private endingForStop(exit: ExitStatus | null): Ending | null {
    const exitCode = exit?.exitCode ?? null;
    if (this.logOverflow && this.stopReason !== 'abandoned') {
      return { status: 'failed', exit_code: exitCode, error: this.logOverflow };
    }
    switch (this.stopReason) {
      case 'abandoned':
        return null;
      case 'timed_out':
        return {
          status: 'timed_out',
          exit_code: exitCode,
          error: `ran past its timeout of ${this.task.timeout_seconds} s`,
        };
      case 'agent_stop':
        return { status: 'cancelled', exit_code: exitCode, error: 'the solder was shut down' };
      case 'disconnected':
        return {
          status: 'cancelled',
          stopped_because: 'disconnected',
          exit_code: exitCode,
          error: `stopped after ${this.outOfTouchS} s without reaching the mothership (on_disconnect)`,
        };
      default:
        return { status: 'cancelled', exit_code: exitCode };
    }
  }

  private async storeArtifacts(workspace: Workspace, streamer: LogStreamer, ending: Ending): Promise<Ending> {
    try {
      const collected = await collectArtifacts(workspace, this.task.artifacts);
      const { found, skipped } = this.withoutSecretPaths(collected);
      for (const skip of skipped) streamer.system(`borg: artifact ${skip.path} skipped: ${skip.reason}`);
      await uploadArtifacts(this.context.client, this.id, found);
      if (found.length > 0) streamer.system(`borg: stored ${found.length} artifact(s)`);
      await streamer.finish();
      return ending;
    } catch (error) {
      const message = `borg: artifact upload failed: ${(error as Error).message}`;
      streamer.system(message);
      await streamer.finish();
      return { status: 'failed', exit_code: ending.exit_code, error: message };
    }
  }

  /**
   * An artifact's path is stored and shown as it is, so a file named after a secret's value (in
   * any form the masker knows) is skipped; the line saying so shows the path masked.
   */
  private withoutSecretPaths(collected: { found: FoundArtifact[]; skipped: SkippedArtifact[] }): typeof collected {
    if (!this.masker.active) return collected;
    const found: FoundArtifact[] = [];
    const skipped = [...collected.skipped];
    for (const file of collected.found) {
      if (this.masker.mask(file.path) === file.path) found.push(file);
      else skipped.push({ path: file.path, reason: "its path holds the value of one of the job's secrets" });
    }
    return { found, skipped };
  }

  /**
   * Reports a status, retrying transient failures for as long as it takes (the result must
   * not be lost to a mothership restart). Returns false when the server refuses it because the
   * task is no longer ours: then the task is abandoned.
   */
  private async report(status: Ending): Promise<boolean> {
    const ending = status.error ? { ...status, error: this.masker.mask(status.error) } : status;
    const result = await this.context.reports.send(this.id, ending);
    if (!('error' in result)) {
      if (result.cancel_requested && ending.status === 'running') this.cancel();
      return true;
    }
    const { code, message } = result.error;
    if (NOT_OURS.has(code)) {
      this.context.log('the server no longer gives us this task: dropping it', { task_id: this.id, code });
      this.abandon();
      return false;
    }
    throw new Error(`the mothership refused the ${ending.status} report: ${message} (${code})`);
  }
}

function endingOfExit(exit: ExitStatus): Ending {
  if (exit.exitCode === 0) return { status: 'succeeded', exit_code: 0 };
  if (exit.exitCode !== null) return { status: 'failed', exit_code: exit.exitCode };
  // The signal's name goes with the report, for the job's retry rules (on_signals).
  const signal = exit.signal ? (signalName(exit.signal) ?? null) : null;
  return { status: 'failed', exit_code: null, signal, error: `killed by ${exit.signal ?? 'a signal'}` };
}
