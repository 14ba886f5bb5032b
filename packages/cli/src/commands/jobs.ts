import {
  type BorgClient,
  type Job,
  JOB_STATUSES,
  type JobWithTasks,
  type ListJobsQuery,
  MAX_ARRAY_SIZE,
  type UpdateJobRequest,
} from '@borg/protocol';
import { Command } from 'commander';

import { ExitCode, toCliError, usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { actOnElements, actsOnElements, type ElementFlags, printElementsChanged } from '../element-flags.ts';
import { collect, integer, retentionText } from '../flag-values.ts';
import { fullId } from '../id-prefix.ts';
import { jobExitCode } from '../job-outcome.ts';
import { printJobDetail, printJobTable } from '../job-views.ts';
import type { Output } from '../output.ts';
import { RunnerNames } from '../runner-names.ts';
import { watch } from '../watch-loop.ts';

interface ListFlags {
  status?: string;
  name?: string;
  label?: string;
  limit?: string;
  watch?: boolean;
}

export function jobsCommand(): Command {
  return new Command('jobs')
    .description('List, inspect and control jobs')
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(
      controlCommand('cancel', 'Cancel jobs: pending tasks at once, running ones are stopped', (c, id, flags) =>
        c.cancelJob(id, flags.cascade ? { cascade: true } : {}),
      )
        .option('--cascade', 'also cancel every job waiting on them (depends_on, inputs_from) that has not ended')
        .option(ELEMENT_FLAG, 'cancel only these elements of one job: 3, 10-19 or 3,7 (repeatable)', collect),
    )
    .addCommand(
      controlCommand('pause', 'Pause jobs: no new tasks start; running ones finish', (c, id) => c.pauseJob(id)),
    )
    .addCommand(controlCommand('resume', 'Resume paused jobs', (c, id) => c.resumeJob(id)))
    .addCommand(
      controlCommand('retry', 'Retry every element of finished jobs whose last attempt failed', (c, id) =>
        c.retryJob(id),
      )
        .option(ELEMENT_FLAG, 'retry only these elements of one job, also while it runs: 3, 10-19 or 3,7', collect)
        .option('--failed', 'retry the elements of one job whose latest attempt failed, timed out or was lost'),
    )
    .addCommand(
      controlCommand(
        'delete',
        'Delete ended jobs with their attempts, logs and artifacts (a pinned job is refused: unpin it first)',
        (c, id) => c.deleteJob(id),
        'deleted',
      ),
    )
    .addCommand(setCommand());
}

const ELEMENT_FLAG = '--element <indexes>';

function listCommand(): Command {
  return clientCommand('list', 'List jobs, newest first')
    .alias('ls')
    .option('--status <statuses>', `only these, comma-separated: ${JOB_STATUSES.join(', ')}`)
    .option('--name <prefix>', 'only jobs whose name starts with this')
    .option('--label <KEY=VALUE>', 'only jobs that require this runner label')
    .option('--limit <n>', 'at most this many (default 50)')
    .option('-w, --watch', 'keep the list on screen, updated live (Ctrl-C to stop)')
    .addHelpText(
      'after',
      examples([
        'borg jobs list',
        'borg jobs list --status running,queued --watch',
        'borg jobs list --name nightly- --label gpu=a100',
        "borg jobs list --status failed -o json | jq -r '.[].id'",
      ]),
    )
    .action(
      action(async ({ out, connect }, flags: ListFlags) => {
        const { client, ...conn } = await connect();
        const limit = integer(flags.limit, '--limit', 1, 100_000) ?? 50;
        const query: ListJobsQuery = { status: statusFilter(flags.status), name: flags.name, label: flags.label };
        const fetchAll = () => listJobs(client, query, limit);
        if (!flags.watch) {
          const jobs = await fetchAll();
          if (out.json) out.printJson(jobs);
          else printJobTable(out, jobs);
          return;
        }
        await watch(out, { client, ...conn }, ['jobs'], async (into) => {
          const jobs = await fetchAll();
          if (into.json) into.printJsonLine(jobs);
          else printJobTable(into, jobs);
          return undefined; // until Ctrl-C
        });
      }),
    );
}

function showCommand(): Command {
  return clientCommand('show', 'Show a job and every attempt of every element')
    .argument('<job-id>')
    .option('-w, --watch', "redraw as it changes until it ends, then exit with the job's exit code")
    .addHelpText(
      'after',
      examples([
        'borg jobs show 0b6f1c                  the first 6 characters or more of its id',
        'borg jobs show 0b6f… --watch',
        'borg jobs show 0b6f… -o json',
      ]),
    )
    .action(
      action(async ({ out, connect }, typed: string, flags: { watch?: boolean }) => {
        const { client, ...conn } = await connect();
        const { id } = await fullId(client, typed, ['job']);
        const runners = new RunnerNames(client);
        const print = async (into: Output, job: JobWithTasks) => {
          await runners.load(job.tasks.map((t) => t.runner_id));
          printJobDetail(into, job, Date.now(), runners.nameOf);
        };
        if (!flags.watch) {
          const job = await client.getJob(id);
          if (out.json) out.printJson(job);
          else await print(out, job);
          return;
        }
        return watch(out, { client, ...conn }, [`job:${id}`], async (into) => {
          const job = await client.getJob(id);
          if (into.json) into.printJsonLine(job);
          else await print(into, job);
          return job.completed_at ? jobExitCode(job) : undefined;
        });
      }),
    );
}

/** The status the example of each control command lists jobs by. */
const LIST_STATUS_FOR: Record<string, string> = { resume: 'paused', retry: 'failed', delete: 'succeeded' };

/** `borg jobs cancel --cascade`, and `--element`/`--failed` (element-flags.ts) for cancel and retry. */
interface ControlFlags extends ElementFlags {
  cascade?: boolean;
}

/**
 * `borg jobs cancel|pause|resume|retry ID...`. Every id is tried, so one job that already
 * finished does not stop a bulk cancel; the exit code is that of the last failure.
 */
function controlCommand(
  name: string,
  description: string,
  call: (client: BorgClient, id: string, flags: ControlFlags) => Promise<Job>,
  /** What to print for each job acted on, instead of its status. */
  outcome?: string,
) {
  return clientCommand(name, description)
    .argument('<job-id...>')
    .addHelpText(
      'after',
      examples([
        `borg jobs ${name} 0b6f…`,
        `borg jobs ${name} $(borg jobs list --status ${LIST_STATUS_FOR[name] ?? 'queued'} -o json | jq -r '.[].id')`,
      ]),
    )
    .action(
      action(async ({ out, connect }, ids: string[], flags: ControlFlags) => {
        const connection = await connect();
        if (actsOnElements(flags)) {
          if (ids.length !== 1) throw usageError(`--element and --failed act on one job; ${ids.length} were given`);
          const { id } = await fullId(connection.client, ids[0]!, ['job']);
          const verb = name as 'retry' | 'cancel';
          printElementsChanged(out, verb, await actOnElements(connection.client, verb, id, flags));
          return 0;
        }
        const done: Job[] = [];
        let exitCode = 0;
        for (const typed of ids) {
          try {
            const { id } = await fullId(connection.client, typed, ['job']);
            const job = await call(connection.client, id, flags);
            done.push(job);
            if (!out.json && outcome) out.print(`job ${job.id}: ${outcome}`);
            else if (!out.json)
              out.print(
                `job ${job.id}: ${out.status(job.status)}${job.paused && job.status !== 'paused' ? ' (paused)' : ''}`,
              );
          } catch (error) {
            const failure = toCliError(error, connection);
            // One bad id among many is reported and skipped; a dead mothership stops the lot.
            if (ids.length === 1 || failure.exitCode === ExitCode.UNAVAILABLE || failure.exitCode === ExitCode.AUTH) {
              throw failure;
            }
            out.note(`${failure.line} (job ${typed})`);
            exitCode = failure.exitCode;
          }
        }
        if (out.json) out.printJson(done);
        return exitCode;
      }),
    );
}

/** `borg jobs set JOB --max-parallel N|none --pin|--unpin --retention D|default --keep-last N|none`. */
function setCommand(): Command {
  return clientCommand('set', 'Change a job: its parallelism while it runs, and how long it is kept')
    .argument('<job-id>')
    .option('--max-parallel <n>', 'at most N elements held at once from the next claim on; none lifts the limit')
    .option('--pin', 'keep the job until unpinned, whatever the retention')
    .option('--unpin', 'let the retention delete the job again')
    .option('--retention <duration>', "keep it this long once it ends (e.g. 30d); default: the server's again")
    .option('--keep-last <n>', 'keep the newest N jobs of its name whatever their age; none: no such rule')
    .addHelpText(
      'after',
      examples([
        'borg jobs set 0b6f… --max-parallel 20',
        'borg jobs set 0b6f… --max-parallel none',
        'borg jobs set 0b6f… --pin',
        'borg jobs set 0b6f… --retention 365d',
      ]),
    )
    .action(
      action(async ({ out, connect }, typed: string, flags: SetFlags) => {
        const update = updateOf(flags);
        const { client } = await connect();
        const { id } = await fullId(client, typed, ['job']);
        const job = await client.updateJob(id, update);
        if (out.json) return out.printJson(job);
        // What was changed, as it is now, then the job's status.
        const parts: string[] = [];
        if ('max_parallel' in update) parts.push(`max parallel ${job.max_parallel ?? 'none'}`);
        if ('pinned' in update || 'retention' in update || 'keep_last' in update) {
          parts.push(job.pinned ? 'pinned' : `retention ${job.retention ?? 'default'}`);
          if (job.keep_last !== null) parts.push(`keep last ${job.keep_last}`);
        }
        out.print(`job ${job.id}: ${[...parts, out.status(job.status)].join('; ')}`);
      }),
    );
}

interface SetFlags {
  maxParallel?: string;
  pin?: boolean;
  unpin?: boolean;
  retention?: string;
  keepLast?: string;
}

function updateOf(flags: SetFlags): UpdateJobRequest {
  if (flags.pin && flags.unpin) throw usageError('--pin and --unpin contradict each other');
  const update: UpdateJobRequest = {};
  if (flags.maxParallel !== undefined) {
    update.max_parallel =
      flags.maxParallel === 'none' ? null : integer(flags.maxParallel, '--max-parallel', 1, MAX_ARRAY_SIZE)!;
  }
  if (flags.pin || flags.unpin) update.pinned = flags.pin === true;
  if (flags.retention !== undefined) {
    update.retention = flags.retention === 'default' ? null : retentionText(flags.retention, '--retention')!;
  }
  if (flags.keepLast !== undefined) {
    update.keep_last = flags.keepLast === 'none' ? null : integer(flags.keepLast, '--keep-last', 1, 10_000)!;
  }
  if (Object.keys(update).length === 0) {
    throw usageError('nothing to change', 'give --max-parallel, --pin, --unpin, --retention or --keep-last');
  }
  return update;
}

function statusFilter(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const unknown = text.split(',').filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
  if (unknown.length)
    throw usageError(`--status: unknown status ${unknown.join(', ')}`, `use ${JOB_STATUSES.join(', ')}`);
  return text;
}

/** Follows cursors until `limit` jobs or the end. */
async function listJobs(client: BorgClient, query: ListJobsQuery, limit: number): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listJobs({ ...query, cursor, limit: Math.min(500, limit - jobs.length) });
    jobs.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && jobs.length < limit);
  return jobs;
}
