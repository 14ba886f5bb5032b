import type { Command } from 'commander';

/**
 * What commander says about a bad command line, as one `borg: …` line: "unknown option
 * '--limt' (did you mean --limit?)". `borg submit make -j4` took the job's flag for borg's; only
 * there, where a command was given without `--` before it, does the line say to put one.
 */
export function usageErrorLine(text: string, command: Command): string {
  let line = text
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.+)\?\)/, ' (did you mean $1?)')
    .trimEnd();
  const flag = /^unknown option '(.+)'/.exec(line)?.[1];
  if (flag && command.name() === 'submit' && commandBefore(flag, command)) {
    line += ': put the command after --, e.g. borg submit -- make -j4';
  }
  return `borg: ${line}\n`;
}

/** Whether a word that is no option nor an option's value comes before `flag`, and no `--` at all. */
function commandBefore(flag: string, command: Command): boolean {
  let root = command;
  while (root.parent) root = root.parent;
  // The line as parsed (commander keeps it, though its types do not say so).
  const raw = (root as Command & { rawArgs: string[] }).rawArgs;
  const args = raw.slice(raw.indexOf(command.name()) + 1);
  if (args.includes('--')) return false;
  for (let i = 0; i < args.length && args[i] !== flag; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) return true;
    const option = arg.includes('=') ? undefined : command.options.find((o) => o.long === arg || o.short === arg);
    if (option && (option.required || option.optional)) i++; // its value
  }
  return false;
}
