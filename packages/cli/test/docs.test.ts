import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { ExitCode } from '../src/cli-error.ts';
import { buildProgram } from '../src/main.ts';

const SERVERS = new Set(['mothership', 'solder', 'up']);

/** Every runnable client command as its words: ['jobs', 'list'], ['login'], … */
function clientCommands(program: Command): string[][] {
  const paths: string[][] = [];
  const visit = (command: Command, path: string[]) => {
    if (command.commands.length === 0) paths.push(path);
    for (const sub of command.commands) visit(sub, [...path, sub.name()]);
  };
  for (const top of program.commands) if (!SERVERS.has(top.name())) visit(top, [top.name()]);
  return paths;
}

describe('docs/cli.md stays true to the code', () => {
  it('names every client command, every submit flag and every exit code', async () => {
    const docs = await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
    const program = await buildProgram();
    const commands = clientCommands(program);
    expect(commands.length).toBeGreaterThan(15);
    for (const words of commands) {
      // `borg jobs cancel\|pause\|resume\|retry` names four commands.
      const last = words.at(-1)!;
      const head = words
        .slice(0, -1)
        .map((w) => `${w} `)
        .join('');
      expect(docs, `borg ${words.join(' ')}`).toMatch(new RegExp(`borg ${head}(\\S*\\\\\\|)*${last}\\b`));
    }
    const submit = program.commands.find((c) => c.name() === 'submit')!;
    for (const option of submit.options) {
      if (option.helpGroupHeading === 'Connection and output:') continue;
      expect(docs, option.long!).toContain(`\`${option.long}`);
    }
    for (const code of Object.values(ExitCode)) expect(docs).toMatch(new RegExp(`^\\| ${code} +\\|`, 'm'));
  });
});
