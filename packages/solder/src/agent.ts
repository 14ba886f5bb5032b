import { chmod, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

import type { ClaimedTask } from '@borg/protocol';

import { ClaimLoop } from './claim-loop.ts';
import { type SolderConfig, workDirOf } from './config.ts';
import { claimableJobTypes, detectContainerRuntime } from './container-runtime.ts';
import { DisconnectGuard } from './disconnect-guard.ts';
import type { Executor } from './executors/executor.ts';
import { createExecutor, removeOrphanContainers } from './executors/index.ts';
import { GpuTelemetry } from './gpu-telemetry.ts';
import { HeartbeatLoop, sayLeaving } from './heartbeat-loop.ts';
import { ImagePolicy } from './image-policy.ts';
import { InputCache } from './input-files.ts';
import { LogBatchSender } from './log-batch-sender.ts';
import { sleep } from './retry.ts';
import { RunnerSession } from './runner-session.ts';
import { SolderFatalError } from './solder-fatal-error.ts';
import { StatusReports } from './status-reports.ts';
import { TaskRun, type TaskRunContext } from './task-run.ts';
import { TaskSlots } from './task-slots.ts';
import { TaskUsers } from './task-user.ts';

export interface AgentOptions {
  /** Replace how tasks are executed (tests inject faults here). */
  executorFor?: (task: ClaimedTask) => Executor;
  fetch?: typeof fetch;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** The longest one API call may take, on top of a long-poll's wait (default 30 s; see withDeadlines). */
  requestTimeoutMs?: number;
  /** The nvidia-smi binary that detection and GPU samples run (default: nvidia-smi on PATH). */
  nvidiaSmi?: string;
  /** Between two samples of the GPUs tasks hold (default 5 s). */
  gpuSampleIntervalMs?: number;
}

const REQUEST_TIMEOUT_MS = 30_000;
/** How long a stopping solder waits for a heartbeat in flight before it sends its last one. */
const LAST_HEARTBEAT_WAIT_MS = 5_000;

/**
 * The solder: opens a runner session (registration, token, identity), then runs two small loops
 * side by side, a heartbeat and a claim loop, and one TaskRun per task it is given. This class
 * only wires them together and decides when the solder is done:
 * - drained: `stop()` (or --idle-exit, or the last task --once / --max-tasks allows) ends the
 *   claims; heartbeats go on until the running tasks have ended, then `done` resolves;
 * - fatal: a SolderFatalError from the session or a loop stops everything and rejects `done`.
 */
export class Agent {
  private session: RunnerSession | undefined;
  private claimLoop: ClaimLoop | undefined;
  private disconnectGuard: DisconnectGuard | undefined;
  private taskRunContext: TaskRunContext | undefined;
  private readonly tasks: TaskSlots;
  private readonly gpuTelemetry: GpuTelemetry;
  /** Aborted when the solder stops claiming (drain); the claim in flight ends with it. */
  private readonly claiming = new AbortController();
  /** Aborted when the solder is done; heartbeats go on until then, for the tasks still running. */
  private readonly stopping = new AbortController();
  /** The heartbeat loop's run, awaited before the last heartbeat so none can follow it. */
  private heartbeats: Promise<void> | undefined;
  /** The clean end, once: the last heartbeat, then `done`. */
  private finishing: Promise<void> | undefined;
  private readonly log = (message: string, fields?: Record<string, unknown>): void => {
    (this.options.log ?? defaultLog)(message, fields);
  };
  private resolveDone!: () => void;
  private rejectDone!: (error: Error) => void;
  /** Resolves when the solder has stopped (drained, --once, --max-tasks, --idle-exit, stop()). */
  readonly done = new Promise<void>((resolve, reject) => {
    this.resolveDone = resolve;
    this.rejectDone = reject;
  });

  constructor(
    private readonly config: SolderConfig,
    private readonly options: AgentOptions = {},
  ) {
    this.gpuTelemetry = new GpuTelemetry({
      nvidiaSmi: options.nvidiaSmi,
      intervalMs: options.gpuSampleIntervalMs,
      log: this.log,
    });
    this.tasks = new TaskSlots({
      capacity: config.maxConcurrentTasks,
      limit: config.once ? 1 : config.maxTasks,
      run: (task) => new TaskRun(this.taskRunContext!, task),
      onEnded: () => this.afterTask(),
      log: this.log,
    });
  }

  /** The runner id the mothership gave; '' before start(). */
  get id(): string {
    return this.session?.runnerId ?? '';
  }

  get activeTasks(): number {
    return this.tasks.size;
  }

  async start(): Promise<void> {
    const users = await TaskUsers.resolve(this.config).catch((error: Error) => {
      throw new SolderFatalError(error.message);
    });
    const workRoot = resolve(workDirOf(this.config));
    const { spoolDir, envFileDir } = await prepareDirectories(this.config.stateDir, workRoot, users);
    if (users.base.switches) {
      this.log('tasks run as another user', {
        user: users.base.name,
        uid: users.base.uid,
        own_uid_per_task: users.isolatesTasks,
      });
    }
    if (users.base.switches && !users.isolatesTasks && this.config.maxConcurrentTasks > 1) {
      this.log(
        'tasks running at the same time share one uid and can reach each other (their processes and workspaces); give --task-uids to separate them',
      );
    }
    const runtime = await detectContainerRuntime(this.config.containerCli);
    if (runtime.warning) this.log(runtime.warning);
    const jobTypes = claimableJobTypes(this.config.jobTypes, runtime.cli !== undefined);
    if (jobTypes?.length === 0) {
      throw new SolderFatalError(
        `--job-types names only container jobs, and ${runtime.warning ?? 'no container CLI works'}`,
      );
    }
    const session = await RunnerSession.open(this.config, {
      fetch: this.options.fetch,
      requestTimeoutMs: this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      signal: this.stopping.signal,
      onFatal: (error) => this.fail(error),
      log: this.log,
      detect: this.options.nvidiaSmi ? { nvidiaSmi: this.options.nvidiaSmi } : undefined,
      gpuReadings: this.gpuTelemetry,
      automaticLabels: runtime.kind ? { container: runtime.kind } : {},
      jobTypes,
    });
    this.session = session;
    const executorOptions = {
      shell: this.config.shell,
      containerCli: runtime.cli,
      containerNetwork: this.config.containerNetwork,
      solderId: session.deviceId,
      pidsLimit: this.config.pidsLimit,
      imagePolicy: this.config.allowedImages ? new ImagePolicy(this.config.allowedImages) : undefined,
      envFileDir,
    };
    this.taskRunContext = {
      client: session.client,
      logs: new LogBatchSender(session.client, this.log),
      reports: new StatusReports({ client: session.client, runnerId: () => session.runnerId, log: this.log }),
      executorFor: this.options.executorFor ?? ((task) => createExecutor(task.type, executorOptions)),
      inputs: new InputCache(join(this.config.stateDir, 'cache'), session.client, this.config.cacheSize),
      workRoot,
      spoolDir,
      graceMs: this.config.cancelGracePeriod * 1000,
      keepWorkspaces: this.config.keepWorkspaces,
      users,
      gpuMachine: () => session.machineHasGpus,
      gpuTelemetry: this.gpuTelemetry,
      log: this.log,
    };
    // Containers of tasks that a previous run of this solder left behind (it was killed) go first.
    if (runtime.cli) {
      await removeOrphanContainers(runtime.cli, session.deviceId)
        .then((removed) => removed.length > 0 && this.log('removed leftover task containers', { removed }))
        .catch(() => undefined); // a failed clean-up must not stop the solder
    }
    await session.begin();

    const { tasks, log, gpuTelemetry } = this;
    this.disconnectGuard = new DisconnectGuard(session.contact, () => session.heartbeatIntervalMs, tasks, log);
    this.heartbeats = new HeartbeatLoop({
      session,
      tasks,
      signal: this.stopping.signal,
      gpuSamples: gpuTelemetry,
      log,
    }).run();
    this.claimLoop = new ClaimLoop({
      session,
      tasks,
      longPollSeconds: this.config.longPollSeconds,
      jobTypes,
      signal: this.claiming.signal,
      onAnswered: () => this.stopIfIdleTooLong(),
      onFatal: (error) => this.fail(error),
      log,
    });
    void this.claimLoop.run();
  }

  /**
   * First call: drain — claim nothing more, let running tasks finish, then stop.
   * With `cancelRunning` (a second signal): stop running tasks too (SIGTERM, then SIGKILL after
   * the grace period), report them cancelled, then stop.
   */
  async stop(options: { cancelRunning?: boolean } = {}): Promise<void> {
    this.claiming.abort();
    if (options.cancelRunning) this.tasks.shutdown();
    await this.finishWhenIdle();
    return this.done;
  }

  private afterTask(): void {
    this.claimLoop?.offerFreedSlot();
    if (this.tasks.exhausted) void this.stop();
    if (this.claiming.signal.aborted) void this.finishWhenIdle();
  }

  private stopIfIdleTooLong(): void {
    const { idleExit } = this.config;
    if (idleExit === undefined || !this.tasks.idleLongerThan(idleExit * 1000)) return;
    this.log('idle for longer than --idle-exit: stopping');
    void this.stop();
  }

  private async finishWhenIdle(): Promise<void> {
    await this.tasks.settled();
    if (this.tasks.size > 0) return; // a later task's end calls this again
    this.finishing ??= this.finish();
    await this.finishing;
  }

  /** Drained: the loops end, the mothership is told this runner is leaving, then `done` resolves. */
  private async finish(): Promise<void> {
    this.stopping.abort();
    this.disconnectGuard?.stop();
    await this.gpuTelemetry.stop();
    await Promise.race([this.heartbeats, sleep(LAST_HEARTBEAT_WAIT_MS)]);
    if (this.session?.runnerId) await sayLeaving(this.session, this.log);
    this.resolveDone();
  }

  private fail(error: SolderFatalError): void {
    this.log(error.message);
    this.claiming.abort();
    this.stopping.abort();
    this.disconnectGuard?.stop();
    this.tasks.shutdown();
    void this.gpuTelemetry.stop();
    this.rejectDone(error);
  }
}

/**
 * The solder's own files are root's (or its user's) alone: the state directory 700 (711 when
 * the work directory is inside it and tasks run as another user, who must pass through it to
 * reach their workspace but may list nothing), identity.json 600, cache/, spool/ and run/ (env
 * files of container tasks) 700. The work directory is 711 when tasks run as another user, and
 * every directory above it must let that user pass, or the solder refuses to start.
 */
async function prepareDirectories(
  stateDir: string,
  workRoot: string,
  users: TaskUsers,
): Promise<{ spoolDir: string; envFileDir: string }> {
  const state = resolve(stateDir);
  const workInsideState = !relative(state, workRoot).startsWith('..');
  await mkdir(state, { recursive: true, mode: 0o700 });
  await chmod(state, users.base.switches && workInsideState ? 0o711 : 0o700);
  const spoolDir = join(state, 'spool');
  const envFileDir = join(state, 'run');
  for (const dir of [spoolDir, envFileDir]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  }
  // Env files a killed solder left behind hold task env values: they go at once.
  for (const name of await readdir(envFileDir)) await rm(join(envFileDir, name), { force: true });
  await mkdir(workRoot, { recursive: true, mode: 0o711 });
  if (users.base.switches) {
    await chmod(workRoot, 0o711);
    for (let dir = dirname(workRoot); ; dir = dirname(dir)) {
      const { mode } = await stat(dir);
      if ((mode & 0o001) === 0) {
        throw new SolderFatalError(
          `tasks run as ${users.base.name}, who cannot pass through ${dir} (mode ${(mode & 0o777).toString(8)}) to reach the work directory ${workRoot}: choose a --work-dir every user may pass through`,
        );
      }
      if (dir === dirname(dir)) break;
    }
  }
  return { spoolDir, envFileDir };
}

function defaultLog(message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${new Date().toISOString()} solder: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
}
