import {
  BorgApiError,
  type BorgClient,
  CONTAINER_USER_PATTERN,
  type CreateJobRequest,
  isSafeRelativePath,
  type Job,
  JOB_TYPES,
  type JobType,
  type JobWithTasks,
  type ResourceRequest,
  type UnsatisfiableDetails,
} from '@borg/protocol';
import { type Command, Option } from 'commander';

import { CliError, ExitCode, usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { uploadLocalFile } from '../file-transfer.ts';
import { collect, decimal, durationSeconds, integer, keyValues, retentionText } from '../flag-values.ts';
import { handleFollowInterrupt } from '../follow-interrupt.ts';
import { jobExitCode } from '../job-outcome.ts';
import { summariseJob } from '../job-views.ts';
import { followLogs } from '../log-follower.ts';
import { LogPrinter } from '../log-printer.ts';
import type { Output } from '../output.ts';
import { verdictLines } from '../placement-views.ts';
import { onDisconnectOf, type RetryFlags, retryRulesOf } from '../retry-flags.ts';

interface SubmitFlags extends RetryFlags {
  name?: string;
  type: JobType;
  image?: string;
  user?: string;
  env?: string[];
  secret?: string[];
  label?: string[];
  constraint?: string[];
  cpu?: string;
  memory?: string;
  gpus?: string;
  gpuMemory?: string;
  queueUnsatisfiable?: boolean;
  priority?: string;
  attempts?: string;
  timeout?: string;
  array?: string;
  maxParallel?: string;
  retention?: string;
  pin?: boolean;
  keepLast?: string;
  file?: string[];
  artifact?: string[];
  follow?: boolean;
  cancelOnInterrupt?: boolean;
}

export function submitCommand(): Command {
  return clientCommand('submit', 'Submit a job: upload its files, print its id; with --follow, stream its logs')
    .argument(
      '<command...>',
      'what to run, after `--` (shell: one string or words joined by spaces; binary, container: argv)',
    )
    .option('--name <name>', 'a name to find it by (default: the command)')
    .addOption(new Option('--type <type>', 'how to run it').choices(JOB_TYPES).default('shell'))
    .option('--image <image>', 'the container image (--type container)')
    .option(
      '--user <uid[:gid]>',
      "run the container as this numeric uid or uid:gid (--type container; default: the image's user)",
    )
    .option(
      '--env <KEY=VALUE>',
      'an environment variable; a bare KEY takes its value from this shell (repeatable)',
      collect,
    )
    .option(
      '--secret <ENV=NAME>',
      'give the task the secret NAME as the variable ENV; its value is masked in the logs (repeatable)',
      collect,
    )
    .option('--label <KEY=VALUE>', 'a label a runner must have to take it (repeatable)', collect)
    .option(
      '--constraint <EXPR>',
      'a condition on the runner\'s labels and attributes, e.g. "gpu_model in (A100, H100)", "memory_gb >= 64" (repeatable)',
      collect,
    )
    .option('--cpu <n>', 'CPUs each task needs of its runner, e.g. 2 or 0.5')
    .option('--memory <MB>', 'memory each task needs of its runner, in MB')
    .option('--gpus <n>', 'GPUs each task gets for itself alone')
    .option('--gpu-memory <MB>', 'free memory each of those GPUs must have, in MB')
    .option(
      '--queue-unsatisfiable',
      'queue the job even if no runner the mothership knows could ever take it (default: refuse it, saying why)',
    )
    .option('--priority <n>', 'higher runs first, -1000 to 1000 (default 0)')
    .option('--attempts <n>', 'attempts per element, with backoff between them (default 1)')
    .option('--retry-on-exit <codes>', 'retry only these exit codes, e.g. 1,137 (with --attempts)')
    .option('--retry-on-signal <names>', 'retry a task killed by one of these signals, e.g. KILL,SEGV')
    .option('--retry-on-lost', 'retry attempts lost with their runner, without counting them (the default)')
    .option('--no-retry-on-lost', 'do not retry attempts lost with their runner')
    .option('--retry-on-timeout', 'retry attempts that ran past --timeout')
    .option('--lost-counts', 'a lost attempt uses up one of --attempts')
    .option('--retry-backoff <initial[,max]>', 'wait before each retry, doubling up to max, e.g. 10s,10m')
    .option(
      '--on-disconnect <keep|duration>',
      'when its solder cannot reach the mothership: stop the task after this long, or keep it running (default: stop after the offline window)',
    )
    .option('--timeout <duration>', 'per attempt, e.g. 90s, 10m, 2h (default none)')
    .option('--array <n>', 'run N elements in parallel, each with BORG_TASK_INDEX (default 1)')
    .option('--max-parallel <n>', 'at most N elements held at once, across all runners (default: no limit)')
    .option('--retention <duration>', "keep the job this long once it ends, e.g. 30d (default: the server's)")
    .option('--pin', 'keep the job until unpinned, whatever the retention')
    .option('--keep-last <n>', 'keep the newest N jobs of this name whatever their age')
    .option('--file <LOCAL[:PATH]>', 'upload LOCAL, put it at PATH in the work directory (repeatable)', collect)
    .option('--artifact <glob>', 'keep files matching this glob after the run (repeatable)', collect)
    .option(
      '-f, --follow',
      "stream the logs until the job ends, then exit with the job's exit code; Ctrl-C stops following and leaves the job running",
    )
    .option('--cancel-on-interrupt', 'with --follow: Ctrl-C cancels the job before exiting')
    .addHelpText(
      'after',
      examples([
        'borg submit -- make test',
        "borg submit --follow -- make test            exits with make's exit code",
        'borg submit --follow --cancel-on-interrupt -- make test     Ctrl-C stops the job too',
        "borg submit --array 8 --label gpu=a100 -- 'python train.py --shard $BORG_TASK_INDEX'",
        'borg submit --gpus 2 --gpu-memory 40000 --cpu 8 --memory 65536 -- python train.py',
        'borg submit --constraint "gpu_model in (A100, H100)" --constraint "hostname !~ ^old-" -- ./bench.sh',
        'borg submit --file ./data.csv:input/data.csv --artifact "out/*.png" -- ./plot.sh input/data.csv',
        'borg submit --type container --image python:3.12 -- python -c "print(42)"',
        'borg submit --type container --image python:3.12 --user 1000:1000 -- python train.py',
        'borg submit --type binary --attempts 3 --timeout 10m -- /usr/bin/rsync -a src/ dst/',
        'borg submit --attempts 3 --retry-on-exit 1,137 --retry-backoff 10s,10m -- ./flaky-test.sh',
        'borg submit --secret DEPLOY_TOKEN=deploy-token -- ./deploy.sh     see borg secrets',
        'JOB=$(borg submit -- ./nightly.sh) && borg logs -f "$JOB"',
      ]),
    )
    .action(
      action(async ({ out, connect }, words: string[], flags: SubmitFlags) => {
        if (flags.cancelOnInterrupt && !flags.follow) throw usageError('--cancel-on-interrupt is for --follow');
        const request = buildRequest(words, flags);
        const files = parseFiles(flags.file);
        const { client, ...conn } = await connect();

        request.files = [];
        for (const file of files) {
          const stored = await uploadLocalFile(client, file.local);
          request.files.push({ file_id: stored.id, path: file.path });
        }
        const job = await submit(client, request, out);

        if (!flags.follow) {
          if (out.json) out.printJson(job);
          else out.print(job.id);
          if (!out.json && out.stderrIsTerminal)
            out.note(out.paint('dim', `follow it with: borg logs -f ${job.id}`, 'err'));
          return ExitCode.OK;
        }

        // Ctrl-C is ours before the line saying the job is followed: a reader of that line may
        // answer it with SIGINT at once, and without the handler Node would die of the signal.
        handleFollowInterrupt(out, client, job, Boolean(flags.cancelOnInterrupt));
        if (out.json) out.printJsonLine({ type: 'submitted', job });
        else out.note(out.paint('dim', `job ${job.id} submitted; following its logs`, 'err'));
        const printer = new LogPrinter(out, { prefix: job.array_size > 1 });
        const done = (await followLogs({ client, ...conn }, { kind: 'job', jobId: job.id }, printer)) as JobWithTasks;
        if (out.json) out.printJsonLine({ type: 'finished', job: done });
        else out.note(summariseJob(out, done));
        return jobExitCode(done);
      }),
    );
}

function buildRequest(words: string[], flags: SubmitFlags): CreateJobRequest {
  if (words.length === 0) throw usageError('no command given', 'put it after --, e.g. borg submit -- make test');
  // A shell job is one string: `borg submit -- make test` runs "make test", as ssh does.
  const command = flags.type === 'shell' ? words.join(' ') : words;
  if (flags.type === 'container' && !flags.image) throw usageError('--type container needs --image');
  if (flags.type !== 'container' && flags.image) throw usageError('--image is for --type container');
  if (flags.type !== 'container' && flags.user) throw usageError('--user is for --type container');
  if (flags.user !== undefined && !CONTAINER_USER_PATTERN.test(flags.user)) {
    throw usageError(
      `--user ${flags.user}: a container user is a numeric uid or uid:gid`,
      'e.g. --user 1000 or --user 1000:1000',
    );
  }
  return {
    name: flags.name ?? defaultName(words),
    type: flags.type,
    command,
    image: flags.image,
    user: flags.user,
    env: keyValues(flags.env, '--env', process.env),
    secrets: keyValues(flags.secret, '--secret'),
    labels: keyValues(flags.label, '--label'),
    constraints: flags.constraint,
    resources: resourceRequest(flags),
    unsatisfiable: flags.queueUnsatisfiable ? 'queue' : 'reject',
    priority: integer(flags.priority, '--priority', -1000, 1000),
    max_attempts: integer(flags.attempts, '--attempts', 1, 100),
    retry: retryRulesOf(flags),
    on_disconnect: onDisconnectOf(flags.onDisconnect),
    timeout_seconds: durationSeconds(flags.timeout, '--timeout'),
    array_size: integer(flags.array, '--array', 1, 10_000),
    max_parallel: integer(flags.maxParallel, '--max-parallel', 1, 10_000),
    artifacts: flags.artifact,
    retention: retentionText(flags.retention, '--retention'),
    pinned: flags.pin,
    keep_last: integer(flags.keepLast, '--keep-last', 1, 10_000),
  };
}

function resourceRequest(flags: SubmitFlags): ResourceRequest | undefined {
  const resources: ResourceRequest = {
    cpu: decimal(flags.cpu, '--cpu', 0.001, 4096),
    memory_mb: integer(flags.memory, '--memory', 1, 64 * 1024 * 1024),
    gpus: integer(flags.gpus, '--gpus', 0, 64),
    gpu_memory_mb: integer(flags.gpuMemory, '--gpu-memory', 1, 16 * 1024 * 1024),
  };
  if (resources.gpu_memory_mb !== undefined && !resources.gpus) {
    throw usageError('--gpu-memory is the memory each assigned GPU must have', 'give --gpus too');
  }
  const given = Object.entries(resources).filter(([, value]) => value !== undefined);
  return given.length === 0 ? undefined : (Object.fromEntries(given) as ResourceRequest);
}

/**
 * Submits the job. A refusal because no runner could ever take it lists each runner the
 * mothership named, with what it lacks, before the one-line error.
 */
async function submit(client: BorgClient, request: CreateJobRequest, out: Output): Promise<Job> {
  try {
    return await client.createJob(request);
  } catch (error) {
    if (!(error instanceof BorgApiError) || error.code !== 'UNSATISFIABLE') throw error;
    const runners = (error.details as UnsatisfiableDetails | undefined)?.runners ?? [];
    out.note('borg: no runner the mothership knows could ever take this job; the nearest:');
    for (const line of verdictLines(runners)) out.note(`  ${out.cell(line)}`);
    throw new CliError(
      'no runner could ever take this job',
      ExitCode.USAGE,
      'change its --type, --label, --constraint, --cpu, --memory or --gpus, or add --queue-unsatisfiable to wait for such a runner',
    );
  }
}

/** "make test", or the first line of a script, shortened to what a table shows. */
function defaultName(words: string[]): string {
  const text = words.join(' ').split('\n')[0]!.trim() || 'job';
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/**
 * `--file LOCAL[:PATH]`: PATH defaults to LOCAL's file name. The last ':' splits them (a
 * PATH is relative and has no reason to hold one). Checked before anything is uploaded.
 */
function parseFiles(specs: string[] | undefined): Array<{ local: string; path: string }> {
  const files = (specs ?? []).map((spec) => {
    const colon = spec.lastIndexOf(':');
    const local = colon > 0 ? spec.slice(0, colon) : spec;
    const path = colon > 0 ? spec.slice(colon + 1) : local.split('/').pop()!;
    if (!isSafeRelativePath(path)) {
      throw usageError(
        `--file ${spec}: "${path}" is not a path inside the work directory`,
        'give a relative path without "..", e.g. --file ./data.csv:input/data.csv',
      );
    }
    return { local, path };
  });
  const seen = new Set<string>();
  for (const { path } of files) {
    if (seen.has(path)) throw usageError(`two --file flags put a file at ${path}`, 'give each its own PATH');
    seen.add(path);
  }
  return files;
}
