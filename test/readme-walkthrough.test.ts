import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
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
  return (
    blocks
      .join('\n')
      .split('\n')
      // Servers are started by the test; the client commands (`npx borg login`, `submit`, …) run as written.
      .filter((line) => !/^export (BORG|ADMIN|REG)=/.test(line) && !/^npx borg (up|mothership|solder)\b/.test(line))
      .join('\n')
  );
}

/**
 * Runs a script in a fresh directory, as a reader would in a clone: `npx borg` finds this
 * checkout's borg (a node_modules/.bin/borg link, as `npm install` makes), and `borg login`
 * writes its config file into the directory instead of the real ~/.config.
 */
async function runScript(script: string, env: Record<string, string>): Promise<string> {
  const cwd = await mkdtemp(join(tmpdir(), 'borg-readme-'));
  try {
    await mkdir(join(cwd, 'node_modules', '.bin'), { recursive: true });
    await symlink(BORG_BIN, join(cwd, 'node_modules', '.bin', 'borg'));
    const {
      BORG_ADDR: _addr,
      BORG_TOKEN: _token,
      BORG_PROFILE: _profile,
      BORG_CONFIG: _config,
      ...inherited
    } = process.env;
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      cwd,
      env: { ...inherited, XDG_CONFIG_HOME: join(cwd, '.config'), ...env },
    });
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

  it('the quick start: `borg up` (what npm start runs) runs jobs submitted with the borg CLI on its local solder', async () => {
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

      const script = await sectionScript('### Run a job');
      expect(script).toContain('npx borg login $BORG --token $ADMIN');
      const stdout = await runScript(script, { BORG: url!, ADMIN: admin! });
      // submit --follow: every element's line, prefixed with its index.
      for (const i of [0, 1, 2]) expect(stdout).toContain(`[${i}] hello from element ${i} on Linux\n`);
      // jobs show: the job and its three tasks succeeded.
      expect(stdout).toMatch(/^status: +succeeded$/m);
      expect(stdout.match(/^\d +1 +\S+ +succeeded +0 /gm)).toHaveLength(3);
      // logs --element 0, then the artifact the file job wrote, downloaded.
      expect(stdout).toMatch(/^hello from element 0 on Linux\n/m);
      expect(stdout.trimEnd().split('\n').at(-1)!.trim()).toBe('3');
    } finally {
      up.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 150_000);
});
