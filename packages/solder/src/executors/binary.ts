import type { ExecutionSpec, Executor, OutputSink, RunningTask } from './executor.ts';
import { processGpuEnv } from './gpu-env.ts';
import { groupTask, startProcessGroup } from './process-group.ts';
import { taskBaseEnv, taskUserEnv } from './shell.ts';

export interface BinaryExecutorOptions {
  /** Inherited by every task beneath its own env. Default: taskBaseEnv(process.env). */
  baseEnv?: Record<string, string>;
}

/**
 * Binary tasks: argv[0] is executed directly with argv.slice(1) as its arguments. No shell is
 * involved, so `$(id)`, quotes or `;` in an argument reach the program as plain text. A program
 * that does not exist is reported as exit code 127 (as a shell would), not as an exception.
 */
export class BinaryExecutor implements Executor {
  readonly #baseEnv: Record<string, string>;

  constructor(options: BinaryExecutorOptions = {}) {
    this.#baseEnv = options.baseEnv ?? taskBaseEnv(process.env);
  }

  async start(spec: ExecutionSpec, output: OutputSink): Promise<RunningTask> {
    const [program, ...args] = checkArgv(spec);
    const group = await startProcessGroup(program, args, {
      cwd: spec.workDir,
      // The GPU variables come last: neither the job's env nor a secret can widen what the task sees.
      env: { ...this.#baseEnv, ...taskUserEnv(spec), ...spec.env, ...spec.secrets, ...processGpuEnv(spec) },
      output,
      user: spec.user,
    });
    return groupTask(group);
  }
}

function checkArgv(spec: ExecutionSpec): [string, ...string[]] {
  const argv = spec.command;
  if (!Array.isArray(argv) || !argv.every((arg) => typeof arg === 'string')) {
    throw new TypeError(`binary task ${spec.taskId}: command must be an array of strings (argv)`);
  }
  const [program, ...args] = argv;
  if (!program) throw new TypeError(`binary task ${spec.taskId}: argv[0], the program to run, is missing`);
  if (argv.some((arg) => arg.includes('\0'))) {
    throw new TypeError(`binary task ${spec.taskId}: an argument contains a NUL byte`);
  }
  return [program, ...args];
}
