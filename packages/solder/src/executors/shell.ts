import type { ExecutionSpec, Executor, OutputSink, RunningTask } from './executor.ts';
import { groupTask, startProcessGroup } from './process-group.ts';

const SECRET_NAMES = new Set(['BORG_REGISTRATION_TOKEN', 'BORG_TOKEN', 'BORG_ADMIN_TOKEN']);

/**
 * The part of the solder's own environment that tasks inherit. Tasks run code the solder does
 * not trust with its credentials, so this drops BORG_REGISTRATION_TOKEN, BORG_TOKEN,
 * BORG_ADMIN_TOKEN and every variable whose name starts with BORG_ and contains TOKEN, SECRET or
 * PASSWORD (names compared case-insensitively). Everything else (PATH, HOME, LANG, …) is kept,
 * and so are BORG_* variables that are not secrets.
 */
export function taskBaseEnv(processEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(processEnv)) {
    if (value === undefined || isSolderSecret(name)) continue;
    env[name] = value;
  }
  return env;
}

function isSolderSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return SECRET_NAMES.has(upper) || (upper.startsWith('BORG_') && /TOKEN|SECRET|PASSWORD/.test(upper));
}

export interface ShellExecutorOptions {
  /** Runs `<shell> -c <command>`. Default /bin/sh. */
  shell?: string;
  /** Inherited by every task beneath its own env. Default: taskBaseEnv(process.env). */
  baseEnv?: Record<string, string>;
}

/** Shell tasks: the command string is a script for `sh -c`, run in its own process group. */
export class ShellExecutor implements Executor {
  readonly #shell: string;
  readonly #baseEnv: Record<string, string>;

  constructor(options: ShellExecutorOptions = {}) {
    this.#shell = options.shell ?? '/bin/sh';
    this.#baseEnv = options.baseEnv ?? taskBaseEnv(process.env);
  }

  async start(spec: ExecutionSpec, output: OutputSink): Promise<RunningTask> {
    if (typeof spec.command !== 'string') {
      throw new TypeError(`shell task ${spec.taskId}: command must be a string, got ${describe(spec.command)}`);
    }
    const group = await startProcessGroup(this.#shell, ['-c', spec.command], {
      cwd: spec.workDir,
      env: { ...this.#baseEnv, ...spec.env, ...spec.secrets },
      output,
    });
    return groupTask(group);
  }
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'an array' : typeof value;
}
