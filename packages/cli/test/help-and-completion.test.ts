import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { borg, CLI_TEST_TIMEOUT_MS, useTempDir } from './borg-cli.ts';

const run = promisify(execFile);

describe('borg --help and borg completion', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const dir = useTempDir();

  it('--help lists every command; each command has examples', async () => {
    const [top, submit, logs] = await Promise.all([
      borg(['--help']),
      borg(['submit', '--help']),
      borg(['logs', '--help']),
    ]);
    expect(top.code).toBe(0);
    for (const name of [
      'login',
      'whoami',
      'submit',
      'jobs',
      'logs',
      'runners',
      'files',
      'artifacts',
      'tokens',
      'audit',
      'completion',
      'mothership',
      'solder',
      'up',
    ]) {
      expect(top.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    }
    expect(top.stdout).toContain('Exit codes: 0 ok');
    expect(submit.stdout).toContain('Examples:\n  borg submit -- make test');
    expect(submit.stdout).toContain('Connection and output:\n  -o, --output <format>');
    expect(logs.stdout).toContain('borg logs -f');
  });

  it('an unknown option is named, with the nearest one; "put the command after --" only where a command came first', async () => {
    const [typo, submitTypo, jobFlag, afterValue] = await Promise.all([
      borg(['jobs', 'list', '--limt', '3']),
      borg(['submit', '--folow', '--', 'true']),
      borg(['submit', 'make', '-j4']),
      borg(['submit', '--name', 'x', '--zzz']),
    ]);
    for (const result of [typo, submitTypo, jobFlag, afterValue]) expect(result.code).toBe(2);
    expect(typo.stderr.split('\n')[0]).toBe("borg: unknown option '--limt' (did you mean --limit?)");
    expect(submitTypo.stderr.split('\n')[0]).toBe("borg: unknown option '--folow' (did you mean --follow?)");
    expect(jobFlag.stderr.split('\n')[0]).toBe(
      "borg: unknown option '-j4': put the command after --, e.g. borg submit -- make -j4",
    );
    expect(afterValue.stderr.split('\n')[0]).toBe("borg: unknown option '--zzz'");
  });

  it('the bash completion script completes commands, subcommands and flag values', async () => {
    const script = join(dir(), 'borg.bash');
    const { stdout } = await borg(['completion', 'bash']).then((r) => ({ stdout: r.stdout }));
    await writeFile(script, stdout);
    // What bash does on Tab: COMP_WORDS/COMP_CWORD set, the function called, COMPREPLY read.
    const complete = async (...words: string[]) => {
      const { stdout: out } = await run('bash', [
        '-c',
        `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _borg; echo "\${COMPREPLY[*]}"`,
      ]);
      return out.trim().split(' ');
    };
    expect(await complete('borg', 'jo')).toEqual(['jobs']);
    expect(await complete('borg', 'jobs', '')).toEqual(expect.arrayContaining(['list', 'show', 'cancel', 'retry']));
    expect(await complete('borg', 'jobs', 'list', '--st')).toEqual(['--status']);
    expect(await complete('borg', 'submit', '--type', '')).toEqual(['shell', 'binary', 'container']);
    expect(await complete('borg', 'au')).toEqual(['audit']);
    expect(await complete('borg', 'audit', '--action', 'job.')).toEqual([
      'job.submit',
      'job.pause',
      'job.resume',
      'job.cancel',
      'job.retry',
      'job.update',
      'job.delete',
    ]);
    expect(await complete('borg', 'logs', 'x', '-o', '')).toEqual(['table', 'json']);
    expect(await complete('borg', 'submit', '--', 'ma')).toEqual(['']); // the job's command: left to bash
  });

  it('zsh and fish scripts are generated; an unknown shell is a usage error', async () => {
    const [zsh, fish, other] = await Promise.all([
      borg(['completion', 'zsh']),
      borg(['completion', 'fish']),
      borg(['completion', 'powershell']),
    ]);
    expect(zsh.stdout).toMatch(/^#compdef borg\n/);
    expect(zsh.stdout).toContain("'jobs list') echo '");
    expect(fish.stdout).toContain("complete -c borg -a '(__borg_complete)'");
    expect(other.code).toBe(2);
    expect(other.stderr).toBe('borg: no completion for "powershell": use bash, zsh or fish\n');
  });
});
