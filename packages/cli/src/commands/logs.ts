import type { Command } from 'commander';

import { CliError, ExitCode } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { integer, regex } from '../flag-values.ts';
import { latestAttempts } from '../job-outcome.ts';
import { followLogs } from '../log-follower.ts';
import { LogPrinter } from '../log-printer.ts';
import { resolveJobOrTask } from '../resolve-target.ts';
import { tailStart, TaskLogReader } from '../task-log-reader.ts';

interface LogsFlags {
  follow?: boolean;
  grep?: string;
  tail?: string;
  element?: string;
}

export function logsCommand(): Command {
  return clientCommand('logs', "Print a job's or a task's log; with -f, follow it until it ends")
    .argument('<job-or-task-id>', 'a job (the newest attempt of each element) or one task (attempt)')
    .option('-f, --follow', 'keep printing new lines until the job or task ends')
    .option(
      '--grep <regex>',
      'only lines matching this JavaScript regular expression (for a job: searched on the server)',
    )
    .option('--tail <n>', 'start with the last N lines of each task')
    .option('--element <n>', 'only this element of an array job')
    .addHelpText(
      'after',
      examples([
        'borg logs 0b6f…                     the whole log of every element',
        'borg logs -f 0b6f…                  live, until the job ends (retries included)',
        "borg logs 0b6f… --tail 50 --grep 'ERROR|WARN'",
        'borg logs 0b6f… --element 3 -o json | jq -r .message',
        '',
        "The task's stdout goes to stdout and its stderr to stderr; array elements are prefixed [N].",
        'On a terminal, escape sequences other than colours are removed; into a pipe lines are as written.',
      ]),
    )
    .action(
      action(async ({ out, connect }, id: string, flags: LogsFlags) => {
        const grep = regex(flags.grep, '--grep');
        const tail = integer(flags.tail, '--tail', 0, Number.MAX_SAFE_INTEGER);
        const element = integer(flags.element, '--element', 0, 10_000);
        const connection = await connect();
        const { client } = connection;
        const target = await resolveJobOrTask(client, id);
        if (target.kind === 'task' && element !== undefined) {
          throw new CliError('--element is for job ids', ExitCode.USAGE, 'this is a task id; drop --element');
        }
        const tasks =
          target.kind === 'task'
            ? [target.task]
            : latestAttempts(target.job).filter((t) => element === undefined || t.index === element);
        if (target.kind === 'job' && element !== undefined && tasks.length === 0) {
          throw new CliError(
            `job ${id} has no element ${element}`,
            ExitCode.NOT_FOUND,
            `it has ${target.job.array_size}`,
          );
        }
        const arrayJob = target.kind === 'job' && target.job.array_size > 1 && element === undefined;
        const printer = new LogPrinter(out, { prefix: arrayJob, grep });

        if (flags.follow) {
          const scope =
            target.kind === 'job'
              ? ({ kind: 'job', jobId: target.job.id } as const)
              : ({ kind: 'task', taskId: id } as const);
          await followLogs(connection, scope, printer, { tail, element });
          return;
        }
        // A job's whole log with --grep: the server searches every element (not only what is downloaded).
        if (target.kind === 'job' && flags.grep !== undefined && tail === undefined) {
          const byId = new Map(tasks.map((t) => [t.id, t]));
          for await (const found of client.searchJobLogs(target.job.id, { q: flags.grep, limit: 10_000 })) {
            if ('done' in found) {
              if (found.cut_short) out.note(`borg: the search stopped early: ${found.reason}`);
              continue;
            }
            const task = byId.get(found.task_id);
            if (!task) continue; // an earlier attempt of a retried element
            const { line: index, stream, message, timestamp } = found;
            printer.print(task, { index, stream, message, timestamp });
          }
          return;
        }
        for (const task of tasks) {
          const start = await tailStart(client, task.id, tail);
          await new TaskLogReader(task, client, (t, line) => printer.print(t, line), start).catchUp();
        }
      }),
    );
}
