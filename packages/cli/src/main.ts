import { Command } from 'commander';

import { mothershipCommand } from './commands/mothership.ts';

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('borg')
    .description('Borg: run commands on a fleet of your own machines')
    .showHelpAfterError()
    .addCommand(mothershipCommand());
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.stderr.write(`borg: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
