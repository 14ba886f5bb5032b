import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { buildProgram } from '../src/main.ts';

/** Every `borg …` command in the page's code blocks, cut at `&&`, `|`, `;`, `)`, `>` or a comment. */
function borgCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ' '));
  const commands: string[] = [];
  for (const line of blocks.join('\n').split('\n')) {
    for (const match of line.matchAll(/(?:^|[\s$(])borg ([^|;&)>#]*)/g)) commands.push(match[1]!.trim());
  }
  return commands;
}

/** Follows the words to the deepest command they name; answers it and the words left. */
function commandOf(program: Command, words: string[]): { command: Command; rest: string[] } {
  let command = program;
  let at = 0;
  for (; at < words.length; at++) {
    const sub = command.commands.find((c) => c.name() === words[at] || c.aliases().includes(words[at]!));
    if (!sub) break;
    command = sub;
  }
  return { command, rest: words.slice(at) };
}

describe('docs/recipes.md stays true to the code', () => {
  it('names only commands and flags that exist', async () => {
    const page = await readFile(new URL('../../../docs/recipes.md', import.meta.url), 'utf8');
    const program = await buildProgram();
    const commands = borgCommands(page);
    expect(commands.length).toBeGreaterThan(20);
    for (const text of commands) {
      const words = text.split(/\s+/);
      const { command, rest } = commandOf(program, words);
      expect(command, `borg ${text}`).not.toBe(program);
      expect(command.commands, `borg ${text}: a command, not a group`).toEqual([]);
      const end = rest.indexOf('--');
      for (const word of end === -1 ? rest : rest.slice(0, end)) {
        if (!word.startsWith('-')) continue;
        const flag = word.split('=')[0]!;
        const known = command.options.some((o) => o.long === flag || o.short === flag);
        expect(known, `borg ${text}: ${flag}`).toBe(true);
      }
    }
  });
});
