import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { useTestMothership } from './test-mothership.ts';

const run = promisify(execFile);

/** The shell blocks of the README's curl walkthrough, in order. */
async function walkthroughScript(): Promise<string> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('### Walkthrough with curl');
  const end = readme.indexOf('\n## ', start);
  const section = readme.slice(start, end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.join('\n');
}

describe('the README walkthrough', () => {
  const borg = useTestMothership();

  it('works as written: register, submit, claim, log, finish', async () => {
    const script = await walkthroughScript();
    expect(script).toContain('runners/register');
    // The reader pastes the printed tokens; the test pastes this mothership's.
    const pasted = script
      .split('\n')
      .filter((line) => !/^export (BORG|ADMIN|REG)=/.test(line))
      .join('\n');
    const cwd = await mkdtemp(join(tmpdir(), 'borg-readme-'));
    try {
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', pasted], {
        cwd,
        env: {
          ...process.env,
          BORG: borg().url,
          ADMIN: borg().adminToken,
          REG: borg().registrationToken,
        },
      });
      expect(stdout).toContain('"running"');
      expect(stdout).toContain('hello from borg');
      expect(stdout).toMatch(/"status": "succeeded"/);
      expect(stdout).toMatch(/"exit_code": 0/);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
