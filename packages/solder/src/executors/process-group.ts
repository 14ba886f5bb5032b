import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';

import type { TaskUser } from '../task-user.ts';
import type { ExitStatus, OutputSink, RunningTask } from './executor.ts';

export interface ProcessGroupOptions {
  /** The directory the process starts in; it must exist. */
  cwd: string;
  /** The complete environment of the process (nothing is inherited). */
  env: Record<string, string>;
  output: OutputSink;
  /** Runs the process as this user (uid, gid, no supplementary groups) when it is not the solder's own. */
  user?: TaskUser;
  /**
   * How long to keep reading the pipes after the leader has exited and its group was killed.
   * Only a process that left the group (setsid) can still hold them then; we stop waiting for it.
   */
  drainMs?: number;
}

const DEFAULT_DRAIN_MS = 2_000;

/**
 * One child process that leads its own process group (and session: Node's `detached`), so that
 * signals sent to the group reach every child and grandchild the task started.
 */
export class ProcessGroup {
  /** The leader's pid, which is also the group id; undefined when the program could not be started. */
  readonly pid: number | undefined;
  /** Resolves once the leader has exited, the rest of its group was killed and its pipes are closed. */
  readonly exited: Promise<ExitStatus>;
  #leaderGone = false;

  constructor(file: string, args: readonly string[], options: ProcessGroupOptions) {
    const { output } = options;
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.user?.switches ? { uid: options.user.uid, gid: options.user.gid } : {}),
    });
    this.pid = child.pid;
    // No encoding is set, so chunks stay Buffers and binary output arrives byte-exact.
    child.stdout.on('data', (chunk: Buffer) => output.stdout(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.stderr(chunk));
    const pipes = [child.stdout, child.stderr];

    this.exited = new Promise<ExitStatus>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => {
        // Only a failed spawn leaves pid unset; a missing program is the task's failure, not ours.
        if (child.pid !== undefined) return;
        this.#leaderGone = true;
        for (const pipe of pipes) pipe.destroy();
        output.stderr(Buffer.from(`borg: cannot run ${JSON.stringify(file)}: ${error.code ?? error.message}\n`));
        resolve({ exitCode: error.code === 'ENOENT' ? 127 : 126, signal: null });
      });
      child.on('exit', (exitCode, signal) => {
        // Background children the task left behind must not outlive it.
        this.#signalGroup('SIGKILL');
        this.#leaderGone = true;
        void drain(pipes, options.drainMs ?? DEFAULT_DRAIN_MS, output).then(() => resolve({ exitCode, signal }));
      });
    });
  }

  /** True until the leader has exited. */
  get running(): boolean {
    return !this.#leaderGone;
  }

  /**
   * Sends a signal to the whole group. Does nothing once the leader has exited: its group was
   * killed then, and its pid may since belong to someone else.
   */
  signal(signal: NodeJS.Signals): void {
    if (!this.#leaderGone) this.#signalGroup(signal);
  }

  #signalGroup(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: everyone in the group is already gone. EPERM: no member could be signalled (one
      // changed its user id). Neither may crash the solder; there is nothing more to try.
    }
  }
}

/** Checks the work directory first, so that a missing one is not reported as a missing program. */
export async function startProcessGroup(
  file: string,
  args: readonly string[],
  options: ProcessGroupOptions,
): Promise<ProcessGroup> {
  const dir = await stat(options.cwd).catch(() => null);
  if (!dir?.isDirectory()) throw new Error(`work directory ${options.cwd} does not exist`);
  return new ProcessGroup(file, args, options);
}

/** The RunningTask of a plain process group: SIGTERM to the group, SIGKILL after the grace. */
export function groupTask(group: ProcessGroup): RunningTask {
  let stopping: Promise<ExitStatus> | undefined;
  return {
    exited: group.exited,
    stop(graceMs: number): Promise<ExitStatus> {
      stopping ??= (async () => {
        group.signal('SIGTERM');
        const timer = setTimeout(() => group.signal('SIGKILL'), Math.max(0, graceMs));
        try {
          return await group.exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

function closed(stream: Readable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

/** Waits for both pipes to close, but no longer than drainMs. */
async function drain(pipes: Readable[], drainMs: number, output: OutputSink): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), drainMs);
  });
  const outcome = await Promise.race([Promise.all(pipes.map(closed)), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    for (const pipe of pipes) pipe.destroy();
    output.stderr(Buffer.from('borg: output left open by a process outside the task; stopped reading it\n'));
  }
}
