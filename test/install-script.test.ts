import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { BORG_VERSION } from '@borg/protocol';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { useTestMothership } from './test-mothership.ts';
import { finishedJob } from './test-solder.ts';

const run = promisify(execFile);

/**
 * Issue 13: a worker machine becomes a runner with one line, `curl …/install.sh | sh -s -- …`,
 * with nothing of Borg on it but what that line fetches. The bundle comes from `npm run build`
 * (the test suite's global setup runs it).
 */
describe('the install script', { timeout: 120_000 }, () => {
  const borg = useTestMothership();
  const dirs: string[] = [];
  let tamperer: Server | undefined;

  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  afterAll(() => tamperer?.close());

  /** A machine's fresh home: no clone of the repo, no borg on the PATH, only node, sh and curl. */
  async function freshMachine() {
    const home = await mkdtemp(join(tmpdir(), 'borg-install-'));
    dirs.push(home);
    // As /opt is: a root solder's tasks run as another user, who must pass through to their workspaces.
    await chmod(home, 0o755);
    const env = { HOME: home, PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, LANG: 'C' };
    return { home, env, dir: join(home, 'borg') };
  }

  /** `curl -fsSL URL/install.sh | sh -s -- ARGS`, as the docs give it. */
  async function install(url: string, env: NodeJS.ProcessEnv, args: string[]) {
    const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    return run('sh', ['-c', `curl -fsSL ${url}/install.sh | sh -s -- ${quoted}`], { env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  }

  it('installs a solder that registers and runs a job, and installing again upgrades the same runner', async () => {
    const { env, dir } = await freshMachine();
    const labels = { installed: randomUUID() };
    // --no-task-user: the tests run as root, and must not add an account to the machine they run on.
    const args = [
      '--registration-token',
      borg().registrationToken,
      '--dir',
      dir,
      '--name',
      'fresh-box',
      '--no-task-user',
    ];
    const first = await install(borg().url, env, [
      ...args,
      '--labels',
      `installed=${labels.installed}`,
      '--no-service',
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`installed ${dir}/bin/borg-solder (${BORG_VERSION})`);
    expect(first.stdout).toContain(`to remove it: rm -rf ${dir}`);

    // The token is in a file of its own, mode 600, not in the config; both are the owner's alone.
    const config = JSON.parse(await readFile(join(dir, 'etc/solder.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      mothership: borg().url,
      name: 'fresh-box',
      labels: `installed=${labels.installed}`,
    });
    expect(JSON.stringify(config)).not.toContain(borg().registrationToken);
    for (const file of ['etc/solder.json', 'etc/registration-token']) {
      expect((await stat(join(dir, file))).mode & 0o777, file).toBe(0o600);
    }

    const job = await borg().admin.createJob({ name: 'on the installed solder', command: 'echo installed-ok', labels });
    await runOnce(dir, env);
    const done = await finishedJob(borg(), job.id);
    expect(done.status).toBe('succeeded');
    const logs = await borg().admin.getTaskLogs(done.tasks[0]!.id);
    expect(logs.items.map((l) => l.message)).toContain('installed-ok');
    const runner = (await borg().admin.listRunners()).items.find((r) => r.name === 'fresh-box')!;
    expect(runner.version).toBe(BORG_VERSION);

    // Again: the same files are replaced, the identity stays, so it is the same runner.
    const identity = await readFile(join(dir, 'state/identity.json'), 'utf8');
    const second = await install(borg().url, env, [
      ...args,
      '--labels',
      `installed=${labels.installed}`,
      '--no-service',
    ]);
    expect(second.code, second.stderr).toBe(0);
    expect(await readFile(join(dir, 'state/identity.json'), 'utf8')).toBe(identity);
    const again = await borg().admin.createJob({ name: 'again', command: 'true', labels });
    await runOnce(dir, env);
    expect((await finishedJob(borg(), again.id)).tasks[0]!.runner_id).toBe(runner.id);
  });

  it('refuses a bundle whose sha256 is not the published one, and installs nothing', async () => {
    const { env, dir } = await freshMachine();
    tamperer = createServer((request, response) => {
      // The real script and checksum, and a bundle with one byte more than was published.
      fetch(borg().url + request.url!)
        .then(async (real) => {
          const body = Buffer.from(await real.arrayBuffer());
          response.end(request.url === '/install/borg-solder.mjs' ? Buffer.concat([body, Buffer.from('\n')]) : body);
        })
        .catch(() => response.destroy());
    });
    await new Promise<void>((resolve) => tamperer!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(tamperer.address() as AddressInfo).port}`;
    const result = await install(url, env, ['--registration-token', 'borg_reg_x', '--dir', dir, '--mothership', url]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /the download's sha256 is [0-9a-f]{64}, not the published [0-9a-f]{64}: nothing was installed/,
    );
    expect(existsSync(join(dir, 'lib/borg-solder.mjs'))).toBe(false);
    expect(existsSync(join(dir, 'bin/borg-solder'))).toBe(false);
  });

  it('installs a solder that stops with a clear message when the registration token is wrong', async () => {
    const { env, dir } = await freshMachine();
    const result = await install(borg().url, env, [
      '--registration-token',
      'borg_reg_wrong',
      '--dir',
      dir,
      '--no-service',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const solder = await runOnce(dir, env);
    expect(solder.code).toBe(78);
    expect(solder.output).toMatch(/registration.*(401|not valid)/i);
  });

  it('says what it needs when it is run without a token', async () => {
    const { env, dir } = await freshMachine();
    const result = await install(borg().url, env, ['--dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('give --registration-token');
  });
});

/** Runs the installed solder for one task (or until it gives up), as its service would. */
function runOnce(dir: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(dir, 'bin/borg-solder'), ['--config', join(dir, 'etc/solder.json'), '--once'], {
      env: { ...env, BORG_LONG_POLL: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
