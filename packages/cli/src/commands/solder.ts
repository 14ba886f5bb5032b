import type { SolderConfig } from '@borg/solder';
import { Command } from 'commander';

type Flags = Record<string, string | boolean | undefined> & { config?: string };

/**
 * The flags of `borg solder`, shared with `borg up` where they make sense. `stateDirDefault` is
 * where the state goes without --state-dir, as the help says it.
 */
export function addSolderOptions(command: Command, stateDirDefault = '~/.borg/solder'): Command {
  return command
    .option('--name <name>', 'runner name (BORG_SOLDER_NAME, default the host name)')
    .option('--labels <k=v,...>', 'labels tasks can require (BORG_LABELS); os, arch, gpu and container are added')
    .option('--max-concurrent-tasks <n>', 'tasks at once (BORG_MAX_CONCURRENT_TASKS, default the CPU count)')
    .option('--cpu <n>', 'CPUs offered to tasks that ask for CPU (BORG_CPU, default the core count)')
    .option(
      '--memory <mb>',
      'MB offered to tasks that ask for memory (BORG_MEMORY, default the total less --reserve-memory)',
    )
    .option('--reserve-memory <mb>', "MB of the machine's memory kept back for the system (BORG_RESERVE_MEMORY)")
    .option('--gpus <indices>', 'GPUs offered to tasks, e.g. 0,1,2,3, or none (BORG_GPUS, default every GPU found)')
    .option('--state-dir <dir>', `identity and caches (BORG_STATE_DIR, default ${stateDirDefault})`)
    .option(
      '--cache-size <size>',
      'most the input cache keeps, e.g. 10GiB; least recently used first out (BORG_CACHE_SIZE, default 10GiB)',
    )
    .option('--work-dir <dir>', 'task workspaces (BORG_WORK_DIR, default <state-dir>/work)')
    .option(
      '--container-cli <cli>',
      'docker, podman or a compatible CLI (BORG_CONTAINER_CLI, default the first of docker, podman that works)',
    )
    .option('--container-network <mode>', 'network for container tasks (BORG_CONTAINER_NETWORK, default bridge)')
    .option('--run-as <user>', 'a root solder runs tasks as this user (BORG_RUN_AS, default borg-task, else nobody)')
    .option(
      '--task-uids <first-last>',
      'a root solder gives every running task its own uid from this range (BORG_TASK_UIDS)',
    )
    .option('--job-types <types>', 'claim only these job types: container,shell,binary (BORG_JOB_TYPES, default all)')
    .option('--allowed-images <globs>', 'container images allowed, e.g. docker.io/library/* (BORG_ALLOWED_IMAGES)')
    .option('--pids-limit <n>', 'most processes in one container task (BORG_PIDS_LIMIT, default 4096)')
    .option('--shell <path>', 'shell for shell tasks (BORG_SHELL, default /bin/sh)')
    .option(
      '--cancel-grace-period <duration>',
      'SIGTERM, then SIGKILL after this (BORG_CANCEL_GRACE_PERIOD, default 10s)',
    )
    .option('--keep-workspaces <when>', 'never|failed|always (BORG_KEEP_WORKSPACES, default never)')
    .option('--once', 'run one task, then exit (BORG_ONCE)')
    .option('--max-tasks <n>', 'exit after this many tasks (BORG_MAX_TASKS)')
    .option('--idle-exit <duration>', 'exit after this long without work, e.g. 10m (BORG_IDLE_EXIT)')
    .option('--long-poll <seconds>', 'how long one claim request waits for work (BORG_LONG_POLL, default 30)')
    .option('--insecure', 'allow tokens over plain http to a non-loopback mothership (BORG_INSECURE)');
}

export function solderFlags(flags: Flags): Partial<Record<keyof SolderConfig, unknown>> {
  return {
    name: flags.name,
    labels: flags.labels,
    maxConcurrentTasks: flags.maxConcurrentTasks,
    cpu: flags.cpu,
    memory: flags.memory,
    reserveMemory: flags.reserveMemory,
    gpus: flags.gpus,
    stateDir: flags.stateDir,
    cacheSize: flags.cacheSize,
    workDir: flags.workDir,
    containerCli: flags.containerCli,
    containerNetwork: flags.containerNetwork,
    runAs: flags.runAs,
    taskUids: flags.taskUids,
    jobTypes: flags.jobTypes,
    allowedImages: flags.allowedImages,
    pidsLimit: flags.pidsLimit,
    shell: flags.shell,
    cancelGracePeriod: flags.cancelGracePeriod,
    keepWorkspaces: flags.keepWorkspaces,
    once: flags.once,
    maxTasks: flags.maxTasks,
    idleExit: flags.idleExit,
    longPollSeconds: flags.longPoll,
    insecure: flags.insecure,
  };
}

export function solderCommand(): Command {
  return addSolderOptions(
    new Command('solder')
      .description('Run the Borg agent on this machine: register, take tasks, run them')
      .option('--mothership <url>', 'the mothership (BORG_MOTHERSHIP_ADDR)')
      .option('--registration-token <token>', 'token to register with (BORG_REGISTRATION_TOKEN)')
      .option(
        '--registration-token-file <path>',
        'read the registration token from this file (BORG_REGISTRATION_TOKEN_FILE)',
      )
      .option('--config <file>', 'a JSON file with any of the settings (BORG_SOLDER_CONFIG)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  borg solder --mothership https://borg.example.com --registration-token borg_reg_...
  borg solder --mothership http://127.0.0.1:8080 --labels gpu=a100,zone=b --max-concurrent-tasks 2
  borg solder --container-cli podman --once        run one task and exit (ephemeral runners)`,
    )
    .action(async (flags: Flags) => {
      // Loaded here, not at the top: client commands start faster without the agent.
      const { loadSolderConfig, runSolder } = await import('@borg/solder');
      const config = await loadSolderConfig(
        {
          ...solderFlags(flags),
          mothership: flags.mothership,
          registrationToken: flags.registrationToken,
          registrationTokenFile: flags.registrationTokenFile,
        },
        process.env,
        flags.config ?? process.env.BORG_SOLDER_CONFIG,
      );
      process.exitCode = await runSolder(config);
    });
}
