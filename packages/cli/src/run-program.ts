import { type Command, CommanderError } from 'commander';

import { CliError, ExitCode } from './cli-error.ts';
import { terminalSafe } from './terminal-safe.ts';

/** Runs a command line, turning what went wrong into one line on stderr and an exit code. */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeOf(error);
  }
}

/** Prints what went wrong (one line, no stack trace for anything a user can cause) and picks the exit code. */
function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and --version "fail" with exit code 0; anything else commander rejects is usage.
    return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (error instanceof CliError) {
    // The message may quote the mothership (names, paths, its own words): one terminal-safe line.
    process.stderr.write(terminalSafe(error.line, { keepColors: false }) + '\n');
    if (process.env.BORG_DEBUG && error.cause instanceof Error) process.stderr.write(`${error.cause.stack}\n`);
    return error.exitCode;
  }
  // The server commands (mothership, solder, up) report their own failures this way.
  const message = `borg: ${(error as Error)?.message ?? String(error)}`;
  process.stderr.write(terminalSafe(message, { keepColors: false }) + '\n');
  if (process.env.BORG_DEBUG) process.stderr.write(`${(error as Error)?.stack}\n`);
  return ExitCode.FAILED;
}
