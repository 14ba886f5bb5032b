import { BORG_VERSION } from '@borg/protocol/version';
import { Command } from 'commander';

import { addSharedOptions } from './command-context.ts';
import { runProgram } from './run-program.ts';
import { usageErrorLine } from './usage-error-line.ts';

type Load = () => Promise<Command>;

/**
 * The commands, in the order help lists them, each loaded from its own module: a command line
 * that names one loads only that one (see `main`), since loading all of them, and everything
 * they import, was a good part of every command's start.
 */
const CLIENT_COMMANDS: Record<string, Load> = {
  login: () => import('./commands/login.ts').then((m) => m.loginCommand()),
  whoami: () => import('./commands/whoami.ts').then((m) => m.whoamiCommand()),
  submit: () => import('./commands/submit.ts').then((m) => m.submitCommand()),
  run: () => import('./commands/run.ts').then((m) => m.runCommand()),
  jobs: () => import('./commands/jobs.ts').then((m) => m.jobsCommand()),
  pipelines: () => import('./commands/pipelines.ts').then((m) => m.pipelinesCommand()),
  schedules: () => import('./commands/schedules.ts').then((m) => m.schedulesCommand()),
  explain: () => import('./commands/explain.ts').then((m) => m.explainCommand()),
  logs: () => import('./commands/logs.ts').then((m) => m.logsCommand()),
  runners: () => import('./commands/runners.ts').then((m) => m.runnersCommand()),
  files: () => import('./commands/files.ts').then((m) => m.filesCommand()),
  artifacts: () => import('./commands/artifacts.ts').then((m) => m.artifactsCommand()),
  tokens: () => import('./commands/tokens.ts').then((m) => m.tokensCommand()),
  secrets: () => import('./commands/secrets.ts').then((m) => m.secretsCommand()),
  webhooks: () => import('./commands/webhooks.ts').then((m) => m.webhooksCommand()),
  audit: () => import('./commands/audit.ts').then((m) => m.auditCommand()),
  completion: () => import('./commands/completion.ts').then((m) => m.completionCommand()),
};
const SERVER_COMMANDS: Record<string, Load> = {
  mothership: () => import('./commands/mothership.ts').then((m) => m.mothershipCommand()),
  solder: () => import('./commands/solder.ts').then((m) => m.solderCommand()),
  up: () => import('./commands/up.ts').then((m) => m.upCommand()),
};
/** Commands that read the whole command tree (completion scripts are made from it). */
const NEED_ALL = new Set(['completion']);

const OVERVIEW = `
Getting started:
  borg up                                 a mothership and a local solder on :8080 (npm start)
  borg login http://127.0.0.1:8080        store the address and the admin token it printed
  borg submit --follow -- make test       run it on a runner, stream its output, exit with its code

Configuration: ~/.config/borg/config.json (BORG_CONFIG), profiles (--profile, BORG_PROFILE);
BORG_ADDR and BORG_TOKEN override it. Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 auth,
5 mothership unreachable, 6 conflict, 7 file transfer, 130 interrupted (docs/cli.md).
`;

/**
 * The `borg` program: every command, or with `only`, just that one (the program's own help, an
 * unknown command's message and `borg help` need them all; a command's own help does not).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const pick = async (commands: Record<string, Load>) =>
    Promise.all(
      Object.entries(commands).flatMap(([name, load]) => (only === undefined || only === name ? [load()] : [])),
    );
  const [client, servers] = await Promise.all([pick(CLIENT_COMMANDS), pick(SERVER_COMMANDS)]);
  const program = new Command()
    .name('borg')
    .description('Borg: run commands on a fleet of your own machines')
    .version(BORG_VERSION, '-V, --version', 'print the version')
    .addHelpText('after', OVERVIEW)
    .commandsGroup('Client commands:');
  for (const command of client) program.addCommand(command);
  program.commandsGroup('Servers:');
  for (const command of servers) program.addCommand(command);
  // addCommand() does not pass settings down, so each command gets them here.
  const configure = (command: Command) => {
    addSharedOptions(command);
    command
      .exitOverride()
      .showHelpAfterError(`(see \`${fullName(command)} --help\` for usage and examples)`)
      .configureOutput({
        outputError: (text, write) => write(usageErrorLine(text, command)),
      });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export async function main(argv: string[]): Promise<void> {
  const name = argv[2];
  const alone =
    name !== undefined &&
    !NEED_ALL.has(name) &&
    (Object.hasOwn(CLIENT_COMMANDS, name) || Object.hasOwn(SERVER_COMMANDS, name));
  await runProgram(await buildProgram(alone ? name : undefined), argv);
}
