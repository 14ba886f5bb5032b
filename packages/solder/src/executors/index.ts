import type { JobType } from '@borg/protocol';

import type { ImagePolicy } from '../image-policy.ts';
import { BinaryExecutor } from './binary.ts';
import { ContainerExecutor } from './container.ts';
import type { Executor } from './executor.ts';
import { ShellExecutor } from './shell.ts';

export { BinaryExecutor, type BinaryExecutorOptions } from './binary.ts';
export {
  type ContainerExecutorOptions,
  containerName,
  type ContainerRun,
  removeOrphanContainers,
} from './container.ts';
export { ContainerExecutor } from './container.ts';
export type { ExecutionSpec, Executor, ExitStatus, OutputSink, RunningTask } from './executor.ts';
export { groupTask, ProcessGroup, type ProcessGroupOptions, startProcessGroup } from './process-group.ts';
export { ShellExecutor, type ShellExecutorOptions, taskBaseEnv, taskUserEnv, withoutSolderSecrets } from './shell.ts';

export interface ExecutorsOptions {
  /** The shell for shell tasks. Default /bin/sh. */
  shell?: string;
  /** Inherited by shell and binary tasks. Default: taskBaseEnv(process.env). */
  baseEnv?: Record<string, string>;
  /** docker, podman or a compatible CLI; container tasks are refused without it and solderId. */
  containerCli?: string;
  /** `--network` for container tasks. Default bridge. */
  containerNetwork?: string;
  /** Labels every container, so removeOrphanContainers can find leftovers after a restart. */
  solderId?: string;
  /** `--pids-limit` of container tasks. Default 4096. */
  pidsLimit?: number;
  /** `--allowed-images`; default any image. */
  imagePolicy?: ImagePolicy;
  /** Where container tasks' env files are written (a directory only the solder reads). */
  envFileDir?: string;
}

/** The executor for a job type. Throws for container tasks on a solder without a container CLI. */
export function createExecutor(type: JobType, options: ExecutorsOptions = {}): Executor {
  switch (type) {
    case 'shell':
      return new ShellExecutor({ shell: options.shell, baseEnv: options.baseEnv });
    case 'binary':
      return new BinaryExecutor({ baseEnv: options.baseEnv });
    case 'container':
      if (!options.containerCli || !options.solderId) {
        throw new Error('container tasks are not enabled on this solder (no container CLI or solder id)');
      }
      return new ContainerExecutor({
        cli: options.containerCli,
        solderId: options.solderId,
        network: options.containerNetwork,
        pidsLimit: options.pidsLimit,
        imagePolicy: options.imagePolicy,
        envFileDir: options.envFileDir,
      });
  }
}
