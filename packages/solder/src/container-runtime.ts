import { execFile } from 'node:child_process';
import { basename } from 'node:path';

import { JOB_TYPES, type JobType } from '@borg/protocol';

import { withoutSolderSecrets } from './executors/shell.ts';

/** The CLIs tried, in order, when none is configured. */
export const CONTAINER_CLIS = ['docker', 'podman'] as const;
const CHECK_TIMEOUT_MS = 15_000;

/** What start-up found: the CLI container tasks run with, or none (then this solder takes no container jobs). */
export interface ContainerRuntime {
  /** The CLI that answered `info`; undefined when none did. */
  cli: string | undefined;
  /** The `container` label: docker or podman, when the working CLI is one of them. */
  kind: 'docker' | 'podman' | undefined;
  /** Why container jobs are refused, for the start-up log; undefined when a CLI works. */
  warning: string | undefined;
}

export interface ContainerRuntimeOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
}

/**
 * `<cli> info`, bounded by a timeout: it fails when the CLI is missing, when docker has no
 * daemon to talk to, and when podman cannot open its storage. Resolves with why it failed, or
 * undefined when it works.
 */
export function containerCliProblem(cli: string, options: ContainerRuntimeOptions = {}): Promise<string | undefined> {
  const env = options.env ?? withoutSolderSecrets(process.env);
  return new Promise((resolve) => {
    execFile(
      cli,
      ['info'],
      { env, timeout: options.timeoutMs ?? CHECK_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve('not found');
        if (error.killed)
          return resolve(`no answer to "${cli} info" within ${options.timeoutMs ?? CHECK_TIMEOUT_MS} ms`);
        const lastLine = String(stderr).trim().split('\n').at(-1)?.slice(0, 300);
        resolve(lastLine || error.message);
      },
    );
  });
}

/**
 * The container CLI to use. A configured one is checked, and a failure is a warning (container
 * jobs are refused until it works and the solder restarts); without one, docker then podman,
 * the first that works.
 */
export async function detectContainerRuntime(
  configured: string | undefined,
  options: ContainerRuntimeOptions = {},
): Promise<ContainerRuntime> {
  if (configured) {
    const problem = await containerCliProblem(configured, options);
    if (!problem) return { cli: configured, kind: kindOf(configured), warning: undefined };
    return {
      cli: undefined,
      kind: undefined,
      warning: `the container CLI ${configured} (--container-cli) does not work (${problem}): this solder takes no container jobs until it works and the solder restarts`,
    };
  }
  const problems: string[] = [];
  for (const cli of CONTAINER_CLIS) {
    const problem = await containerCliProblem(cli, options);
    if (!problem) return { cli, kind: cli, warning: undefined };
    problems.push(`${cli}: ${problem}`);
  }
  return {
    cli: undefined,
    kind: undefined,
    warning: `no working container CLI (${problems.join('; ')}): this solder takes no container jobs`,
  };
}

/** docker or podman, from the CLI's file name (a path to either counts). */
function kindOf(cli: string): 'docker' | 'podman' | undefined {
  const name = basename(cli);
  if (name.includes('podman')) return 'podman';
  if (name.includes('docker')) return 'docker';
  return undefined;
}

/**
 * The job types the claim asks for: the configured ones (default all), less container without a
 * working CLI, so container tasks stay queued for other runners. Undefined: all types.
 */
export function claimableJobTypes(
  configured: readonly JobType[] | undefined,
  containers: boolean,
): JobType[] | undefined {
  if (containers) return configured ? [...configured] : undefined;
  return (configured ?? JOB_TYPES).filter((type) => type !== 'container');
}
