import { readFile } from 'node:fs/promises';

import {
  type BorgClient,
  type CreateJobRequest,
  CreateScheduleRequest,
  JOB_TYPES,
  type JobType,
  type Schedule,
  SCHEDULE_CATCH_UPS,
  SCHEDULE_OVERLAPS,
  type ScheduleFire,
} from '@borg/protocol';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';

import { CliError, ExitCode, usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { collect, durationSeconds, integer, keyValues, retentionText } from '../flag-values.ts';
import { fullId } from '../id-prefix.ts';
import { ago, statusPaint } from '../output.ts';

export function schedulesCommand(): Command {
  return new Command('schedules')
    .description('Jobs submitted on a cron: list, show, create, pause, resume, trigger and delete schedules')
    .addCommand(listCommand(), { isDefault: true })
    .addCommand(showCommand())
    .addCommand(createCommand())
    .addCommand(pauseCommand(true))
    .addCommand(pauseCommand(false))
    .addCommand(triggerCommand())
    .addCommand(deleteCommand());
}

function listCommand(): Command {
  return clientCommand(
    'list',
    'List schedules: cron, time zone, next fire and the last one (also plain `borg schedules`)',
  )
    .alias('ls')
    .action(
      action(async ({ out, connect }) => {
        const { client } = await connect();
        const items: Schedule[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.listSchedules({ limit: 500, cursor });
          items.push(...page.items);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        if (out.json) return out.printJson(items);
        const now = Date.now();
        out.table(
          items,
          [
            { header: 'ID', value: (s) => s.id },
            { header: 'NAME', value: (s) => s.name },
            { header: 'CRON', value: (s) => s.cron },
            { header: 'TIMEZONE', value: (s) => s.timezone },
            { header: 'NEXT', value: (s) => nextText(s, now), paint: (s) => (s.paused ? 'yellow' : undefined) },
            {
              header: 'LAST',
              value: (s) => lastFireText(s.last_fires[0], now),
              paint: (s) => firePaint(s.last_fires[0]),
            },
          ],
          'no schedules (create one with `borg schedules create --name … --cron … -- COMMAND`)',
        );
      }),
    );
}

function showCommand(): Command {
  return clientCommand('show', 'Show a schedule, its job spec and its latest fires')
    .argument('<id>', 'a schedule id, or its first 6 characters or more')
    .action(
      action(async ({ out, connect }, typed: string) => {
        const { client } = await connect();
        const schedule = await client.getSchedule(await scheduleId(client, typed));
        if (out.json) return out.printJson(schedule);
        const now = Date.now();
        const command = schedule.job.command;
        out.fields([
          ['id', schedule.id],
          ['name', schedule.name],
          ['cron', `${schedule.cron} (${schedule.timezone})`],
          ['next fire', nextText(schedule, now)],
          ['overlap', schedule.overlap],
          ['catch up', schedule.catch_up],
          [
            'job',
            `${schedule.job.name} (${schedule.job.type}): ${Array.isArray(command) ? command.join(' ') : command}`,
          ],
          ['created by', schedule.created_by?.name ?? '-'],
          ['created', ago(schedule.created_at, now)],
        ]);
        out.print();
        out.table(
          schedule.last_fires,
          [
            { header: 'FOR', value: (f) => f.scheduled_for.slice(0, 19).replace('T', ' ') },
            { header: 'TRIGGER', value: (f) => f.trigger },
            { header: 'OUTCOME', value: (f) => f.outcome, paint: (f) => firePaint(f) },
            { header: 'JOB', value: (f) => f.job_id ?? '-' },
            { header: 'STATUS', value: (f) => f.job_status ?? '-', paint: (f) => statusPaint(f.job_status ?? '') },
            { header: 'LATE', value: (f) => (f.lateness_seconds === null ? '-' : `${f.lateness_seconds.toFixed(2)}s`) },
            { header: 'REASON', value: (f) => f.reason ?? '' },
          ],
          'no fires yet',
        );
      }),
    );
}

interface CreateFlags {
  from?: string;
  name?: string;
  cron?: string;
  timezone?: string;
  overlap?: string;
  catchUp?: string;
  paused?: boolean;
  jobName?: string;
  type?: JobType;
  image?: string;
  user?: string;
  env?: string[];
  secret?: string[];
  label?: string[];
  priority?: string;
  attempts?: string;
  timeout?: string;
  array?: string;
  retention?: string;
  keepLast?: string;
}

function createCommand(): Command {
  return clientCommand('create', 'Create a schedule from flags, a YAML or JSON file of the API shape, or both')
    .argument('[command...]', 'what each fire runs, after `--` (as for borg submit)')
    .option('--from <file>', 'a YAML or JSON file: {name, cron, timezone, job: {…}, overlap, catch_up} (- for stdin)')
    .option('--name <name>', 'the schedule name')
    .option('--cron <expr>', 'when: 5 fields (minute hour day month weekday), or 6 with seconds first, or @daily')
    .option('--timezone <zone>', 'an IANA time zone for the cron, e.g. Europe/Berlin (default UTC)')
    .addOption(new Option('--overlap <policy>', 'while an earlier job runs (default skip)').choices(SCHEDULE_OVERLAPS))
    .addOption(new Option('--catch-up <policy>', 'slots missed while down (default none)').choices(SCHEDULE_CATCH_UPS))
    .option('--paused', 'create it paused (it fires once resumed, or when triggered)')
    .option('--job-name <name>', "the jobs' name (default: the schedule name)")
    .addOption(new Option('--type <type>', 'how to run the command (default shell)').choices(JOB_TYPES))
    .option('--image <image>', 'the container image (--type container)')
    .option('--user <uid[:gid]>', 'run the container as this numeric user (--type container)')
    .option('--env <KEY=VALUE>', 'an environment variable (repeatable; KEY alone copies yours)', collect)
    .option('--secret <ENV=NAME>', 'an environment variable from a secret (repeatable)', collect)
    .option('--label <KEY=VALUE>', 'a label a runner must have (repeatable)', collect)
    .option('--priority <n>', 'higher runs first, -1000 to 1000')
    .option('--attempts <n>', 'attempts per element')
    .option('--timeout <duration>', 'per attempt, e.g. 90s, 10m, 2h')
    .option('--array <n>', 'elements per job')
    .option('--retention <duration>', "keep each job this long once it ends, e.g. 14d (default: the server's)")
    .option('--keep-last <n>', 'keep the newest N jobs of this schedule whatever their age')
    .addHelpText(
      'after',
      examples([
        "borg schedules create --name nightly --cron '0 3 * * *' --timezone Europe/Berlin -- ./nightly.sh",
        "borg schedules create --name heartbeat --cron '*/10 * * * * *' --overlap allow -- curl -fsS https://example.com/",
        'borg schedules create --from nightly.yaml',
        "borg schedules create --from nightly.yaml --cron '0 4 * * *'     the file, with another time",
      ]),
    )
    .action(
      action(async ({ out, connect }, words: string[], flags: CreateFlags) => {
        const request = await createRequest(words, flags);
        const { client } = await connect();
        const created = await client.createSchedule(request);
        if (out.json) return out.printJson(created);
        out.print(created.id);
        if (out.stderrIsTerminal) {
          out.note(
            out.paint('dim', `schedule ${out.cell(created.name)}: next fire ${nextText(created, Date.now())}`, 'err'),
          );
        }
      }),
    );
}

function pauseCommand(pause: boolean): Command {
  const name = pause ? 'pause' : 'resume';
  return clientCommand(
    name,
    pause
      ? 'Pause schedules: no fires until resumed'
      : 'Resume schedules from their next slot (missed ones stay missed)',
  )
    .argument('<id...>', 'schedule ids, or their first 6 characters or more')
    .action(
      action(async ({ out, connect }, typed: string[]) => {
        const { client } = await connect();
        const changed: Schedule[] = [];
        for (const text of typed) {
          const schedule = await client.updateSchedule(await scheduleId(client, text), { paused: pause });
          changed.push(schedule);
          if (!out.json) {
            const next = pause ? '' : `; next fire ${nextText(schedule, Date.now())}`;
            out.print(`schedule ${schedule.id} (${out.cell(schedule.name)}) ${pause ? 'paused' : 'resumed'}${next}`);
          }
        }
        if (out.json) out.printJson(changed);
      }),
    );
}

function triggerCommand(): Command {
  return clientCommand('trigger', 'Fire a schedule once now (paused or not) and print the job it submitted')
    .argument('<id>', 'a schedule id, or its first 6 characters or more')
    .addHelpText('after', examples(['JOB=$(borg schedules trigger 5e1a7c) && borg logs -f "$JOB"']))
    .action(
      action(async ({ out, connect }, typed: string) => {
        const { client } = await connect();
        const job = await client.triggerSchedule(await scheduleId(client, typed));
        if (out.json) return out.printJson(job);
        out.print(job.id);
      }),
    );
}

function deleteCommand(): Command {
  return clientCommand('delete', 'Delete schedules; the jobs they submitted stay')
    .alias('rm')
    .argument('<id...>', 'schedule ids, or their first 6 characters or more')
    .action(
      action(async ({ out, connect }, typed: string[]) => {
        const { client } = await connect();
        const deleted: Schedule[] = [];
        for (const text of typed) {
          const schedule = await client.deleteSchedule(await scheduleId(client, text));
          deleted.push(schedule);
          if (!out.json) out.print(`schedule ${schedule.id} (${out.cell(schedule.name)}) deleted`);
        }
        if (out.json) out.printJson(deleted);
      }),
    );
}

function scheduleId(client: BorgClient, typed: string): Promise<string> {
  return fullId(client, typed, ['schedule']).then((found) => found.id);
}

/**
 * The request: the file's fields (if any), with the flags laid over them; the command words
 * replace the job's command. Checked here against the API's schema, so a mistake names its field
 * before anything is sent (the cron and time zone are checked by the mothership).
 */
async function createRequest(words: string[], flags: CreateFlags): Promise<CreateScheduleRequest> {
  const base = flags.from ? await readScheduleFile(flags.from) : {};
  const baseJob = (base.job ?? {}) as Partial<CreateJobRequest>;
  const type = flags.type ?? baseJob.type ?? 'shell';
  const name = flags.name ?? base.name;
  const job: Record<string, unknown> = {
    ...baseJob,
    name: flags.jobName ?? baseJob.name ?? name,
    type,
    command: words.length > 0 ? (type === 'shell' ? words.join(' ') : words) : baseJob.command,
    image: flags.image ?? baseJob.image,
    user: flags.user ?? baseJob.user,
    env: flags.env ? keyValues(flags.env, '--env', process.env) : baseJob.env,
    secrets: flags.secret ? keyValues(flags.secret, '--secret') : baseJob.secrets,
    labels: flags.label ? keyValues(flags.label, '--label') : baseJob.labels,
    priority: integer(flags.priority, '--priority', -1000, 1000) ?? baseJob.priority,
    max_attempts: integer(flags.attempts, '--attempts', 1, 100) ?? baseJob.max_attempts,
    timeout_seconds: durationSeconds(flags.timeout, '--timeout') ?? baseJob.timeout_seconds,
    array_size: integer(flags.array, '--array', 1, 10_000) ?? baseJob.array_size,
    retention: retentionText(flags.retention, '--retention') ?? baseJob.retention,
    keep_last: integer(flags.keepLast, '--keep-last', 1, 10_000) ?? baseJob.keep_last,
  };
  if (job.command === undefined) {
    throw usageError('no command given', "put it after --, e.g. borg schedules create --cron '0 3 * * *' -- make test");
  }
  const request = withoutUndefined({
    ...base,
    name,
    cron: flags.cron ?? base.cron,
    timezone: flags.timezone ?? base.timezone,
    overlap: flags.overlap ?? base.overlap,
    catch_up: flags.catchUp ?? base.catch_up,
    paused: flags.paused ?? base.paused,
    job: withoutUndefined(job),
  });
  if (request.name === undefined) throw usageError('a schedule needs a name', 'give --name');
  if (request.cron === undefined) throw usageError('a schedule needs a cron', "give --cron, e.g. --cron '0 3 * * *'");
  const parsed = CreateScheduleRequest.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw usageError(`${issue.path.join('.') || 'the schedule'}: ${issue.message}`);
  }
  return request as CreateScheduleRequest;
}

/** A schedule file: YAML or JSON (YAML reads both), `-` for stdin. */
async function readScheduleFile(file: string): Promise<Partial<CreateScheduleRequest>> {
  const label = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(
      `cannot read ${label} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      ExitCode.USAGE,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw usageError(`${label}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw usageError(`${label} holds no schedule`, 'write its fields: name, cron, timezone, job, overlap, catch_up');
  }
  return value as Partial<CreateScheduleRequest>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function withoutUndefined<T extends Record<string, unknown>>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}

/** "in 5m (2026-06-01 03:00 UTC)", "paused", or "none" when the cron has no slot left. */
function nextText(schedule: Schedule, now: number): string {
  if (schedule.paused) return 'paused';
  if (!schedule.next_fire_at) return 'none';
  const ms = Date.parse(schedule.next_fire_at) - now;
  const when = schedule.next_fire_at.slice(0, 19).replace('T', ' ');
  return `${ms <= 0 ? 'now' : `in ${ahead(ms)}`} (${when} UTC)`;
}

/** "12s", "5m", "3h", "2d": how far ahead. */
function ahead(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

function lastFireText(fire: ScheduleFire | undefined, now: number): string {
  if (!fire) return '-';
  const what = fire.outcome === 'created' ? (fire.job_status ?? 'created') : fire.outcome;
  return `${what}, ${ago(fire.scheduled_for, now)}`;
}

function firePaint(fire: ScheduleFire | undefined) {
  if (!fire) return undefined;
  if (fire.outcome === 'failed') return statusPaint('failed');
  if (fire.outcome === 'skipped') return 'dim' as const;
  return statusPaint(fire.job_status ?? '');
}
