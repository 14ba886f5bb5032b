import { BORG_VERSION } from '@borg/protocol';
import { Command } from 'commander';

import { addSharedOptions } from './command-context.ts';
import { artifactsCommand } from './commands/artifacts.ts';
import { auditCommand } from './commands/audit.ts';
import { completionCommand } from './commands/completion.ts';
import { explainCommand } from './commands/explain.ts';
import { filesCommand } from './commands/files.ts';
import { jobsCommand } from './commands/jobs.ts';
import { loginCommand } from './commands/login.ts';
import { logsCommand } from './commands/logs.ts';
import { mothershipCommand } from './commands/mothership.ts';
import { pipelinesCommand } from './commands/pipelines.ts';
import { runCommand } from './commands/run.ts';
import { runnersCommand } from './commands/runners.ts';
import { schedulesCommand } from './commands/schedules.ts';
import { secretsCommand } from './commands/secrets.ts';
import { solderCommand } from './commands/solder.ts';
import { submitCommand } from './commands/submit.ts';
import { tokensCommand } from './commands/tokens.ts';
import { upCommand } from './commands/up.ts';
import { webhooksCommand } from './commands/webhooks.ts';
import { whoamiCommand } from './commands/whoami.ts';
import { runProgram } from './run-program.ts';
import { usageErrorLine } from './usage-error-line.ts';

const OVERVIEW = `
Getting started:
  borg up                                 a mothership and a local solder on :8080 (npm start)
  borg login http://127.0.0.1:8080        store the address and the admin token it printed
  borg submit --follow -- make test       run it on a runner, stream its output, exit with its code

Configuration: ~/.config/borg/config.json (BORG_CONFIG), profiles (--profile, BORG_PROFILE);
BORG_ADDR and BORG_TOKEN override it. Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 auth,
5 mothership unreachable, 6 conflict, 7 file transfer, 130 interrupted (docs/cli.md).
`;

export function buildProgram(): Command {
  const program = new Command()
    .name('borg')
    .description('Borg: run commands on a fleet of your own machines')
    .version(BORG_VERSION, '-V, --version', 'print the version')
    .addHelpText('after', OVERVIEW)
    .commandsGroup('Client commands:')
    .addCommand(loginCommand())
    .addCommand(whoamiCommand())
    .addCommand(submitCommand())
    .addCommand(runCommand())
    .addCommand(jobsCommand())
    .addCommand(pipelinesCommand())
    .addCommand(schedulesCommand())
    .addCommand(explainCommand())
    .addCommand(logsCommand())
    .addCommand(runnersCommand())
    .addCommand(filesCommand())
    .addCommand(artifactsCommand())
    .addCommand(tokensCommand())
    .addCommand(secretsCommand())
    .addCommand(webhooksCommand())
    .addCommand(auditCommand())
    .addCommand(completionCommand())
    .commandsGroup('Servers:')
    .addCommand(mothershipCommand())
    .addCommand(solderCommand())
    .addCommand(upCommand());
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
  await runProgram(buildProgram(), argv);
}
