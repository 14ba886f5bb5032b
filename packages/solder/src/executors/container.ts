import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import type { ImagePolicy } from '../image-policy.ts';
import type { ExecutionSpec, Executor, ExitStatus, OutputSink, RunningTask } from './executor.ts';
import { containerGpuArgs, containerGpuEnv, type GpuFlagSyntax, gpuFlagSyntaxOf } from './gpu-env.ts';
import { type ProcessGroup, startProcessGroup } from './process-group.ts';
import { withoutSolderSecrets } from './shell.ts';

const execFileAsync = promisify(execFile);

export interface ContainerExecutorOptions {
  /** `docker`, `podman`, or the path of any CLI compatible with them. */
  cli: string;
  /** How the CLI is given GPUs. Default: podman's CDI devices for a CLI named podman, else docker's `--gpus`. */
  gpuFlags?: GpuFlagSyntax;
  /** This solder's id: every container is labelled with it, so leftovers can be found later. */
  solderId: string;
  /** `--network` mode. Default `bridge`. Host and other-namespace modes are refused. */
  network?: string;
  /** Added to every container's env, beneath the task's own env. */
  extraEnv?: Record<string, string>;
  /** The environment the CLI itself runs in. Default: withoutSolderSecrets(process.env). */
  cliEnv?: Record<string, string>;
  /** `--pids-limit` of every container. Default 4096. */
  pidsLimit?: number;
  /** `--allowed-images`: a task whose image it refuses fails before anything runs. Default: any image. */
  imagePolicy?: ImagePolicy;
  /**
   * A directory only the solder can read (mode 700), where each task's env file is written (mode
   * 600) for the CLI's `--env-file` and deleted once the container has ended. Default: env values
   * go by name only, through the CLI's environment.
   */
  envFileDir?: string;
  /** After `stop`'s grace, how long to wait before `kill` and SIGKILL of the CLI. Default 10 s. */
  killMarginMs?: number;
}

/** What `<cli> run` is given: its argv, the environment the CLI process runs in, and its env file. */
export interface ContainerRun {
  args: string[];
  env: Record<string, string>;
  /** Written (mode 600) before the CLI starts, deleted once it has ended; absent when no file is used. */
  envFile?: { path: string; content: string };
}

// Ids end up in a container name and labels; container names allow only these characters.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Modes that would share a namespace with the host or with another container.
const FORBIDDEN_NETWORK = /^(host$|container:|ns:)/i;
/**
 * Variables the CLI (a Go program) itself reads. A task's value for one of these must not reach
 * the CLI's environment (LD_PRELOAD would run code on the host, DOCKER_HOST would redirect the
 * CLI), so it can only go through the env file; a value the file cannot hold is refused.
 */
const CLI_READS =
  /^(LD_|DYLD_|DOCKER_|CONTAINERS?_|_CONTAINERS|PODMAN_|BUILDAH_|STORAGE_|REGISTRY_|XDG_|DBUS_|GO(DEBUG|GC|MAXPROCS|MEMLIMIT|TRACEBACK)$|(HTTPS?|NO|ALL)_PROXY$|SSL_CERT_|PATH$|HOME$|TMPDIR$|NOTIFY_SOCKET$)/i;

/** `--user` of a container task: numeric, since the solder gives the workspace to that uid first. */
const CONTAINER_USER = /^\d{1,10}(:\d{1,10})?$/;
/**
 * An env-file line is `NAME=VALUE` up to the end of the line; the CLI trims a line's leading
 * blanks and may read quotes. Values that could be read differently go by name instead.
 */
const ENV_FILE_SAFE = /^(?:[^\n\r"'\s][^\n\r]*)?$/;

const DEFAULT_KILL_MARGIN_MS = 10_000;
const DEFAULT_PIDS_LIMIT = 4096;
const CLI_TIMEOUT_MS = 60_000;

/**
 * Container tasks through the docker CLI or a compatible one. Every value that comes from a job
 * goes into its own argv element, and in a position where the CLI cannot read it as a flag.
 * Nothing here ever asks for privileged mode, host namespaces, added capabilities or any device
 * but the GPUs assigned to the task (see gpu-env.ts);
 * every container drops all capabilities, may not gain privileges (setuid binaries, file
 * capabilities) and has a process limit. No env value from a job is ever in argv (visible in ps):
 * values go in a mode-600 env file, or by name with the value in the CLI's environment.
 */
export class ContainerExecutor implements Executor {
  readonly #cli: string;
  readonly #gpuFlags: GpuFlagSyntax;
  readonly #solderId: string;
  readonly #network: string;
  readonly #extraEnv: Record<string, string>;
  readonly #cliEnv: Record<string, string>;
  readonly #killMarginMs: number;
  readonly #pidsLimit: number;
  readonly #imagePolicy: ImagePolicy | undefined;
  readonly #envFileDir: string | undefined;

  constructor(options: ContainerExecutorOptions) {
    this.#cli = options.cli;
    this.#gpuFlags = options.gpuFlags ?? gpuFlagSyntaxOf(options.cli);
    this.#solderId = checkSolderId(options.solderId);
    this.#network = options.network ?? 'bridge';
    if (!this.#network || this.#network.startsWith('-') || FORBIDDEN_NETWORK.test(this.#network)) {
      throw new Error(`container network ${JSON.stringify(this.#network)} is not allowed`);
    }
    this.#extraEnv = options.extraEnv ?? {};
    this.#cliEnv = options.cliEnv ?? withoutSolderSecrets(process.env);
    this.#killMarginMs = options.killMarginMs ?? DEFAULT_KILL_MARGIN_MS;
    this.#pidsLimit = options.pidsLimit ?? DEFAULT_PIDS_LIMIT;
    if (!Number.isSafeInteger(this.#pidsLimit) || this.#pidsLimit < 1) {
      throw new Error(`pids limit ${this.#pidsLimit} is not a positive integer`);
    }
    this.#imagePolicy = options.imagePolicy;
    this.#envFileDir = options.envFileDir;
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
    const refusal = this.#imagePolicy?.refusal(image);
    if (refusal) throw new Error(refusal);
    const user = spec.containerUser ?? null;
    if (user !== null && !CONTAINER_USER.test(user)) {
      throw new Error(`${where}: user ${JSON.stringify(user)} must be a numeric uid or uid:gid`);
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
    const fileLines: string[] = [];
    const envFile = this.#envFileDir ? path.join(this.#envFileDir, `${spec.taskId}.env`) : undefined;
    const secrets = spec.secrets ?? {};
    const pass = (name: string, value: string, secret: boolean) => {
      const what = secret ? 'secret' : 'variable';
      if (!ENV_NAME.test(name))
        throw new Error(`${where}: ${what} ${JSON.stringify(name)} is not a valid variable name`);
      if (envFile && ENV_FILE_SAFE.test(value)) {
        fileLines.push(`${name}=${value}`);
      } else if (CLI_READS.test(name)) {
        // The CLI would read the value itself (LD_PRELOAD would run code on the host) and argv
        // is visible to every user of the machine: there is no safe way to pass it.
        throw new Error(
          `${where}: ${what} ${name} cannot be passed to a container: ${this.#cli} reads that variable itself${envFile ? ' and the value cannot go in an env file' : ''}; give it another name`,
        );
      } else {
        // Only the name goes into argv; the CLI reads the value from its own environment.
        envArgs.push(`--env=${name}`);
        env[name] = value;
      }
    };
    // The GPU variable wins over the job's env and its secrets; otherwise a secret wins over the env.
    const gpuEnv = containerGpuEnv(spec);
    for (const [name, value] of Object.entries({ ...this.#extraEnv, ...spec.env, ...gpuEnv })) {
      if (!Object.hasOwn(secrets, name) || Object.hasOwn(gpuEnv, name)) pass(name, value, false);
    }
    for (const [name, value] of Object.entries(secrets)) {
      if (!Object.hasOwn(gpuEnv, name)) pass(name, value, true);
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
      '--cap-drop=ALL',
      '--security-opt=no-new-privileges',
      `--pids-limit=${this.#pidsLimit}`,
      ...containerGpuArgs(this.#gpuFlags, spec.gpus ?? []),
      ...(user !== null ? [`--user=${user}`] : []),
      ...(envFile && fileLines.length > 0 ? [`--env-file=${envFile}`] : []),
      ...envArgs,
      image,
      // After the image the CLI stops parsing flags: the rest is the container's own argv.
      ...argv,
    ];
    const file = envFile && fileLines.length > 0 ? { path: envFile, content: fileLines.join('\n') + '\n' } : undefined;
    return { args, env, ...(file ? { envFile: file } : {}) };
  }

  async start(spec: ExecutionSpec, output: OutputSink): Promise<RunningTask> {
    const { args, env, envFile } = this.runArguments(spec);
    if (envFile) {
      await rm(envFile.path, { force: true });
      // 'wx': never write through a file or link already there.
      await writeFile(envFile.path, envFile.content, { mode: 0o600, flag: 'wx' });
    }
    const removeEnvFile = () => (envFile ? rm(envFile.path, { force: true }).catch(() => undefined) : undefined);
    let group: ProcessGroup;
    try {
      group = await startProcessGroup(this.#cli, args, { cwd: spec.workDir, env, output });
    } catch (error) {
      await removeEnvFile();
      throw error;
    }
    void group.exited.then(removeEnvFile);
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
  env: Record<string, string> = withoutSolderSecrets(process.env),
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
