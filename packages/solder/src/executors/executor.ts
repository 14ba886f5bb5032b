import type { AssignedGpu, JobType } from '@borg/protocol';

import type { TaskUser } from '../task-user.ts';

/** What an executor needs to start one task. */
export interface ExecutionSpec {
  taskId: string;
  jobId: string;
  type: JobType;
  /** A string for shell tasks; an argv array for binary and container tasks. */
  command: string | string[];
  image: string | null;
  /** The full environment of the task: the job's env plus BORG_JOB_ID, BORG_TASK_ID, … */
  env: Record<string, string>;
  /**
   * The job's secrets by variable name, given to the task as environment variables over `env`.
   * Executors never put a value where others can read it (argv) nor into an error message.
   */
  secrets?: Record<string, string>;
  /** A container task's `--user` (numeric `uid[:gid]`), when its job asks for one. */
  containerUser?: string | null;
  /** Who the task runs as (shell and binary: the process's uid and gid). Default: the solder's own user. */
  user?: TaskUser;
  /** The GPUs assigned to this task alone (see gpu-env.ts); default none. */
  gpus?: readonly AssignedGpu[];
  /** This machine has GPUs: a task assigned none must be shown none (rather than all). */
  gpuMachine?: boolean;
  /** Absolute path of the task's workspace; the process starts there (mounted at /workspace in containers). */
  workDir: string;
}

/** Where a running task's output goes, chunk by chunk, as the process writes it. */
export interface OutputSink {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

export interface ExitStatus {
  /** The exit code, or null when the process was ended by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningTask {
  /** Resolves once the process has exited and its output pipes are drained. */
  readonly exited: Promise<ExitStatus>;
  /**
   * Stops the task: SIGTERM to its whole process group (a container: `stop`), then SIGKILL once
   * graceMs have passed. Resolves when it has exited. Safe to call more than once.
   */
  stop(graceMs: number): Promise<ExitStatus>;
}

/** Shell, binary and container executors share this shape; tests can supply a fake. */
export interface Executor {
  start(spec: ExecutionSpec, output: OutputSink): Promise<RunningTask>;
}
