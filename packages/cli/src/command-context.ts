import { Command, Option } from 'commander';

import { type Target, toCliError } from './cli-error.ts';
import { connect, type Connection, DEFAULT_ADDR, type GlobalOptions } from './client-from-config.ts';
import { Output } from './output.ts';

export interface CommandContext {
  out: Output;
  options: GlobalOptions;
  /** The client for the chosen mothership and token (client-from-config.ts). */
  connect(): Promise<Connection>;
}

/**
 * A client command (`borg jobs list`, `borg submit`, …). The options they all share sit on each
 * command rather than on the program, because `borg solder` has an `--insecure` of its own and
 * commander would hand a program-level one to the wrong command.
 */
const SHARED_OPTIONS_GROUP = 'Connection and output:';
const clientCommands = new WeakSet<Command>();

export function clientCommand(name: string, description: string): Command {
  const command = new Command(name).description(description);
  clientCommands.add(command);
  return command;
}

/**
 * Adds the shared options to a client command once its own are declared, so that its help
 * lists its own options first (main.ts calls this for every command).
 */
export function addSharedOptions(command: Command): void {
  if (!clientCommands.has(command)) return;
  const group = SHARED_OPTIONS_GROUP;
  command
    .addOption(new Option('-o, --output <format>', 'table (for people) or json (for scripts)').helpGroup(group))
    .addOption(new Option('--no-color', 'no colours, even on a terminal (also NO_COLOR=1)').helpGroup(group))
    .addOption(new Option('--profile <name>', 'the profile of `borg login` to use (BORG_PROFILE)').helpGroup(group))
    .addOption(new Option('--addr <url>', 'the mothership, overriding the profile (BORG_ADDR)').helpGroup(group))
    .addOption(
      new Option('--insecure', 'allow sending the token over plain http to a non-loopback host').helpGroup(group),
    );
}

/**
 * Wraps a command's action: builds its context, sets the exit code it returns, and turns what
 * it throws into a CliError that names the mothership it was talking to.
 */
export function action<Args extends unknown[]>(
  run: (context: CommandContext, ...args: Args) => Promise<number | void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const options = command.optsWithGlobals() as GlobalOptions;
    let target: Target = { addr: options.addr ?? process.env.BORG_ADDR ?? DEFAULT_ADDR, tokenSource: null };
    try {
      const out = Output.from(options);
      const context: CommandContext = {
        out,
        options,
        connect: async () => {
          const connection = await connect(options);
          target = connection;
          return connection;
        },
      };
      const code = await run(context, ...(args.slice(0, -1) as Args));
      if (typeof code === 'number') process.exitCode = code;
    } catch (error) {
      throw toCliError(error, target);
    }
  };
}

/** "Examples:" after a command's help. */
export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => (l ? `  ${l}` : '')).join('\n')}\n`;
}
