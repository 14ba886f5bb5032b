import { Command } from 'commander';

import { mothershipCommand } from './commands/mothership.ts';
import { solderCommand } from './commands/solder.ts';
import { upCommand } from './commands/up.ts';

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('borg')
    .description('Borg: run commands on a fleet of your own machines')
    .showHelpAfterError()
    .addCommand(mothershipCommand())
    .addCommand(solderCommand())
    .addCommand(upCommand());
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.stderr.write(`borg: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
