import type { ExecutionSpec, Executor, OutputSink, RunningTask } from './executor.ts';
import { processGpuEnv } from './gpu-env.ts';
import { groupTask, startProcessGroup } from './process-group.ts';

const SECRET_NAMES = new Set(['BORG_REGISTRATION_TOKEN', 'BORG_TOKEN', 'BORG_ADMIN_TOKEN']);
/** What a task takes from the solder's environment: where programs are, language, time zone, proxies. */
const FOR_TASKS = /^(PATH|LANG|LANGUAGE|LC_[A-Z_]+|TZ|TERM|TMPDIR|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$/;

/**
 * The part of the solder's own environment a task inherits: only what describes the machine
 * (PATH, LANG and LC_*, TZ, TERM, TMPDIR, the proxy variables), never the solder's settings or
 * credentials. The task's own identity comes from its user (see taskUserEnv), its job's env and
 * BORG_* task variables on top.
 */
export function taskBaseEnv(processEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(processEnv)) {
    if (value !== undefined && FOR_TASKS.test(name)) env[name] = value;
  }
  return env;
}

/**
 * HOME, USER and LOGNAME of the task: its own user's name, and its workspace as HOME when it
 * runs as another user than the solder (the solder's home is not its to write, and the task
 * user may have none); otherwise the solder's own.
 */
export function taskUserEnv(spec: ExecutionSpec, processEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (spec.user?.switches) return { HOME: spec.workDir, USER: spec.user.name, LOGNAME: spec.user.name };
  const env: Record<string, string> = {};
  for (const name of ['HOME', 'USER', 'LOGNAME'] as const) {
    const value = processEnv[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * The solder's environment minus its secrets (BORG_REGISTRATION_TOKEN, BORG_TOKEN,
 * BORG_ADMIN_TOKEN and every BORG_* variable naming a token, secret or password): what the
 * container CLI runs with. The CLI needs the machine's settings (DOCKER_HOST, CONTAINERS_CONF,
 * XDG_RUNTIME_DIR, …) and passes none of them into a container unless asked by name.
 */
export function withoutSolderSecrets(processEnv: NodeJS.ProcessEnv): Record<string, string> {
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
      // The GPU variables come last: neither the job's env nor a secret can widen what the task sees.
      env: { ...this.#baseEnv, ...taskUserEnv(spec), ...spec.env, ...spec.secrets, ...processGpuEnv(spec) },
      output,
      user: spec.user,
    });
    return groupTask(group);
  }
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'an array' : typeof value;
}
