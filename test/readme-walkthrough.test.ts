import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { pgliteTemplateDir } from './test-database.ts';
import { useTestMothership } from './test-mothership.ts';

const run = promisify(execFile);
const BORG_BIN = new URL('../packages/cli/bin/borg.js', import.meta.url).pathname;

/** The shell blocks of one README section, in order, without the lines where the reader pastes tokens. */
async function sectionScript(heading: string): Promise<string> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(heading);
  expect(start, `README section ${heading}`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n#', start + heading.length);
  const blocks = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .join('\n')
    .split('\n')
    .filter((line) => !/^export (BORG|ADMIN|REG)=/.test(line) && !/^npx borg /.test(line))
    .join('\n');
}

async function runScript(script: string, env: Record<string, string>): Promise<string> {
  const cwd = await mkdtemp(join(tmpdir(), 'borg-readme-'));
  try {
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd, env: { ...process.env, ...env } });
    return stdout;
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

describe('the README, as written', () => {
  const borg = useTestMothership();

  it('the runner protocol by hand: register, submit, claim, log, finish', async () => {
    const script = await sectionScript('### The runner protocol by hand');
    expect(script).toContain('runners/register');
    const stdout = await runScript(script, {
      BORG: borg().url,
      ADMIN: borg().adminToken,
      REG: borg().registrationToken,
    });
    expect(stdout).toContain('"running"');
    expect(stdout).toContain('hello from borg');
    expect(stdout).toMatch(/"status": "succeeded"/);
    expect(stdout).toMatch(/"exit_code": 0/);
  });

  it('the quick start: `borg up` (what npm start runs) runs a job submitted with curl on its local solder', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'borg-up-'));
    // A migrated embedded database without any token: what a first start finds after its
    // migrations, minus the seconds PGlite spends creating a database from nothing.
    await cp(await pgliteTemplateDir(), join(dataDir, 'pglite'), { recursive: true });
    const up = spawn(
      process.execPath,
      [BORG_BIN, 'up', '--port', '0', '--data-dir', dataDir, '--max-concurrent-tasks', '2'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BORG_LOG_LEVEL: 'warn', BORG_ADMIN_TOKEN: '', BORG_REGISTRATION_TOKEN: '' },
      },
    );
    let banner = '';
    up.stdout.on('data', (chunk: Buffer) => (banner += chunk.toString()));
    up.stderr.on('data', (chunk: Buffer) => (banner += chunk.toString()));
    const exited = new Promise((resolve) => up.on('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`borg up did not get ready:\n${banner}`)), 90_000);
        up.stdout.on('data', () => {
          if (banner.includes('local solder')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
      const admin = /admin token:\s+(\S+)/.exec(banner)?.[1];
      expect(url && admin, banner).toBeTruthy();

      const stdout = await runScript(await sectionScript('### Run a job'), { BORG: url!, ADMIN: admin! });
      expect(stdout).toMatch(/"status": "succeeded"/);
      expect(stdout.match(/"status": "succeeded"/g)!.length).toBe(4); // the job and its three tasks
      expect(stdout).toMatch(/hello from element 0 on Linux/);
    } finally {
      up.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 150_000);
});
