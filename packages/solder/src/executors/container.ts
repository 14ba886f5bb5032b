import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { ExecutionSpec, Executor, ExitStatus, OutputSink, RunningTask } from './executor.ts';
import { type ProcessGroup, startProcessGroup } from './process-group.ts';
import { taskBaseEnv } from './shell.ts';

const execFileAsync = promisify(execFile);

export interface ContainerExecutorOptions {
  /** `docker`, `podman`, or the path of any CLI compatible with them. */
  cli: string;
  /** This solder's id: every container is labelled with it, so leftovers can be found later. */
  solderId: string;
  /** `--network` mode. Default `bridge`. Host and other-namespace modes are refused. */
  network?: string;
  /** Added to every container's env, beneath the task's own env. */
  extraEnv?: Record<string, string>;
  /** The environment the CLI itself runs in. Default: taskBaseEnv(process.env). */
  cliEnv?: Record<string, string>;
  /** After `stop`'s grace, how long to wait before `kill` and SIGKILL of the CLI. Default 10 s. */
  killMarginMs?: number;
}

/** What `<cli> run` is given: its argv, and the environment the CLI process runs in. */
export interface ContainerRun {
  args: string[];
  env: Record<string, string>;
}

// Ids end up in a container name and labels; container names allow only these characters.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Modes that would share a namespace with the host or with another container.
const FORBIDDEN_NETWORK = /^(host$|container:|ns:)/i;
/**
 * Variables the CLI (a Go program) itself reads. A task's value for one of these must not reach
 * the CLI's environment (LD_PRELOAD would run code on the host, DOCKER_HOST would redirect the
 * CLI), so it is passed in argv as `--env=NAME=VALUE` instead, where its value is visible in ps.
 * A secret's value may not be visible there, so a secret of such a name is refused.
 */
const CLI_READS =
  /^(LD_|DYLD_|DOCKER_|CONTAINERS?_|_CONTAINERS|PODMAN_|BUILDAH_|STORAGE_|REGISTRY_|XDG_|DBUS_|GO(DEBUG|GC|MAXPROCS|MEMLIMIT|TRACEBACK)$|(HTTPS?|NO|ALL)_PROXY$|SSL_CERT_|PATH$|HOME$|TMPDIR$|NOTIFY_SOCKET$)/i;

const DEFAULT_KILL_MARGIN_MS = 10_000;
const CLI_TIMEOUT_MS = 60_000;

/**
 * Container tasks through the docker CLI or a compatible one. Every value that comes from a job
 * goes into its own argv element, and in a position where the CLI cannot read it as a flag.
 * Nothing here ever asks for privileged mode, host namespaces, devices or added capabilities.
 */
export class ContainerExecutor implements Executor {
  readonly #cli: string;
  readonly #solderId: string;
  readonly #network: string;
  readonly #extraEnv: Record<string, string>;
  readonly #cliEnv: Record<string, string>;
  readonly #killMarginMs: number;

  constructor(options: ContainerExecutorOptions) {
    this.#cli = options.cli;
    this.#solderId = checkSolderId(options.solderId);
    this.#network = options.network ?? 'bridge';
    if (!this.#network || this.#network.startsWith('-') || FORBIDDEN_NETWORK.test(this.#network)) {
      throw new Error(`container network ${JSON.stringify(this.#network)} is not allowed`);
    }
    this.#extraEnv = options.extraEnv ?? {};
    this.#cliEnv = options.cliEnv ?? taskBaseEnv(process.env);
    this.#killMarginMs = options.killMarginMs ?? DEFAULT_KILL_MARGIN_MS;
  }

  /** Builds `<cli> run …` for a task, or throws a clear error when the spec cannot be run safely. */
  runArguments(spec: ExecutionSpec): ContainerRun {
    const where = `container task ${spec.taskId}`;
    if (!SAFE_ID.test(spec.taskId)) throw new Error(`${where}: task id is not usable in a container name`);
    if (!SAFE_ID.test(spec.jobId)) throw new Error(`${where}: job id is not usable in a container label`);
    const image = spec.image;
    if (typeof image !== 'string' || image === '') throw new Error(`${where}: no image given`);
    if (image.startsWith('-') || /[\s\0]/.test(image)) {
      throw new Error(`${where}: image ${JSON.stringify(image)} is not a valid image name`);
    }
    const argv = spec.command;
    if (!Array.isArray(argv) || !argv.every((arg) => typeof arg === 'string')) {
      throw new Error(`${where}: command must be an array of strings (argv)`);
    }
    if (argv[0]?.startsWith('-')) throw new Error(`${where}: the command may not start with '-'`);
    if (argv.some((arg) => arg.includes('\0'))) throw new Error(`${where}: an argument contains a NUL byte`);
    if (!spec.workDir.startsWith('/') || spec.workDir.includes(':')) {
      throw new Error(`${where}: work directory ${spec.workDir} cannot be mounted`);
    }

    const env = { ...this.#cliEnv };
    const envArgs: string[] = [];
    const secrets = spec.secrets ?? {};
    for (const [name, value] of Object.entries({ ...this.#extraEnv, ...spec.env })) {
      if (!ENV_NAME.test(name)) throw new Error(`${where}: ${JSON.stringify(name)} is not a valid variable name`);
      if (Object.hasOwn(secrets, name)) continue; // the secret of that name wins, below
      if (CLI_READS.test(name)) {
        envArgs.push(`--env=${name}=${value}`);
      } else {
        // Only the name goes into argv (visible to anyone running ps); the CLI reads the value
        // from its own environment.
        envArgs.push(`--env=${name}`);
        env[name] = value;
      }
    }
    // A secret's value goes only into the CLI's environment, never into argv; a name the CLI
    // would read itself cannot be passed that way, so the task is refused.
    for (const [name, value] of Object.entries(secrets)) {
      if (!ENV_NAME.test(name)) {
        throw new Error(`${where}: secret ${JSON.stringify(name)} is not a valid variable name`);
      }
      if (CLI_READS.test(name)) {
        throw new Error(
          `${where}: secret ${name} cannot be passed to a container: ${this.#cli} reads that variable itself; give it another name`,
        );
      }
      envArgs.push(`--env=${name}`);
      env[name] = value;
    }
    const args = [
      'run',
      '--rm',
      `--name=${containerName(spec.taskId)}`,
      `--label=borg.task_id=${spec.taskId}`,
      `--label=borg.job_id=${spec.jobId}`,
      `--label=borg.solder=${this.#solderId}`,
      `--volume=${spec.workDir}:/workspace`,
      '--workdir=/workspace',
      `--network=${this.#network}`,
      ...envArgs,
      image,
      // After the image the CLI stops parsing flags: the rest is the container's own argv.
      ...argv,
    ];
    return { args, env };
  }

  async start(spec: ExecutionSpec, output: OutputSink): Promise<RunningTask> {
    const { args, env } = this.runArguments(spec);
    const group = await startProcessGroup(this.#cli, args, { cwd: spec.workDir, env, output });
    return this.#task(group, containerName(spec.taskId));
  }

  #task(group: ProcessGroup, name: string): RunningTask {
    let stopping: Promise<ExitStatus> | undefined;
    const stop = async (graceMs: number): Promise<ExitStatus> => {
      if (!group.running) return group.exited;
      // The runtime sends SIGTERM to the container and SIGKILL once the seconds have passed.
      const seconds = Math.max(0, Math.ceil(graceMs / 1000));
      const stopped = this.#quietly(['stop', '-t', String(seconds), name]);
      // A last resort if the CLI or the runtime hangs.
      const timer = setTimeout(() => {
        void this.#quietly(['kill', name]);
        group.signal('SIGKILL');
      }, graceMs + this.#killMarginMs);
      try {
        const status = await group.exited;
        await stopped;
        // `run --rm` normally removes it; a killed CLI would leave it behind.
        await this.#quietly(['rm', '-f', name]);
        return status;
      } finally {
        clearTimeout(timer);
      }
    };
    return {
      exited: group.exited,
      stop: (graceMs) => (stopping ??= stop(graceMs)),
    };
  }

  /** Runs a CLI command whose failure changes nothing (the container may already be gone). */
  async #quietly(args: string[]): Promise<void> {
    await execFileAsync(this.#cli, args, { env: this.#cliEnv, timeout: CLI_TIMEOUT_MS }).catch(() => undefined);
  }
}

/** The name of the container that runs a task: `borg-<taskId>`. */
export function containerName(taskId: string): string {
  return `borg-${taskId}`;
}

/**
 * Removes every container labelled `borg.solder=<solderId>`, running or not: they are left from
 * an earlier run of this solder, whose tasks were already given up. Returns the removed ids.
 */
export async function removeOrphanContainers(
  cli: string,
  solderId: string,
  env: Record<string, string> = taskBaseEnv(process.env),
): Promise<string[]> {
  checkSolderId(solderId);
  const options = { env, timeout: CLI_TIMEOUT_MS };
  const { stdout } = await execFileAsync(cli, ['ps', '-a', `--filter=label=borg.solder=${solderId}`, '-q'], options);
  const ids = stdout.split('\n').filter((id) => id.trim() !== '');
  if (ids.length > 0) await execFileAsync(cli, ['rm', '-f', ...ids], options);
  return ids;
}

function checkSolderId(solderId: string): string {
  if (!SAFE_ID.test(solderId)) throw new Error(`solder id ${JSON.stringify(solderId)} is not usable in a label`);
  return solderId;
}
