import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, closedAddress, expectOneLineError, useTempDir } from './borg-cli.ts';

describe(
  'borg login, profiles, and what the user sees when something is wrong',
  { timeout: CLI_TEST_TIMEOUT_MS },
  () => {
    const mothership = useTestMothership();
    const dir = useTempDir();

    it('login checks the token, stores it with mode 600, and later commands use the profile', async () => {
      const home = join(dir(), 'home-config');
      const login = await borg(['login', mothership().url, '--token', mothership().adminToken], {
        env: { XDG_CONFIG_HOME: home },
      });
      expect(login.code, login.stderr).toBe(0);
      const path = join(home, 'borg', 'config.json');
      expect(login.stdout).toContain(path);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(home, 'borg'))).mode & 0o777).toBe(0o700);
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
        current_profile: 'default',
        profiles: { default: { addr: mothership().url, token: mothership().adminToken } },
      });

      // A second profile, logged in with a token read from stdin; it becomes the current one.
      const created = await mothership().admin.createToken({ name: 'second', role: 'admin' });
      const second = await borg(['login', mothership().url, '--profile', 'second', '-o', 'json'], {
        env: { XDG_CONFIG_HOME: home },
        input: `${created.token}\n`,
      });
      expect(JSON.parse(second.stdout)).toMatchObject({ profile: 'second', addr: mothership().url });

      const closed = await closedAddress();
      const [viaCurrent, viaFlag, viaEnv] = await Promise.all([
        borg(['tokens', 'list', '-o', 'json'], { env: { XDG_CONFIG_HOME: home } }),
        borg(['jobs', 'list', '--profile', 'default', '-o', 'json'], { env: { XDG_CONFIG_HOME: home } }),
        // BORG_ADDR overrides the profile's address: here, one where nothing listens.
        borg(['jobs', 'list'], { env: { XDG_CONFIG_HOME: home, BORG_ADDR: closed } }),
      ]);
      expect(viaCurrent.code, viaCurrent.stderr).toBe(0);
      expect((JSON.parse(viaCurrent.stdout) as Array<{ name: string }>).map((t) => t.name)).toContain('second');
      expect(JSON.parse(viaFlag.stdout)).toEqual([]);
      expect(viaEnv.code).toBe(5);
      expect(expectOneLineError(viaEnv.stderr)).toBe(
        `borg: cannot reach ${closed} (ECONNREFUSED): is the mothership running? set BORG_ADDR or run \`borg login URL\``,
      );
    });

    it('a wrong token: exit 4 and one line that says what to do, whether from BORG_TOKEN, a profile or login', async () => {
      const config = join(dir(), 'wrong.json');
      await writeFile(
        config,
        JSON.stringify({
          current_profile: 'old',
          profiles: { old: { addr: mothership().url, token: 'borg_usr_revoked' } },
        }),
      );
      const [fromEnv, fromProfile, atLogin, none] = await Promise.all([
        borg(['jobs', 'list'], {
          env: { BORG_ADDR: mothership().url, BORG_TOKEN: 'not-a-token', BORG_CONFIG: config },
        }),
        borg(['runners', 'list'], { env: { BORG_CONFIG: config } }),
        borg(['login', mothership().url, '--token', 'not-a-token'], {
          env: { BORG_CONFIG: join(dir(), 'never.json') },
        }),
        borg(['jobs', 'list'], { env: { BORG_ADDR: mothership().url, BORG_CONFIG: join(dir(), 'absent.json') } }),
      ]);
      for (const result of [fromEnv, fromProfile, atLogin, none]) expect(result.code, result.stderr).toBe(4);
      expect(expectOneLineError(fromEnv.stderr)).toBe(
        `borg: the mothership at ${mothership().url} refused the token from BORG_TOKEN (the token is not valid (unknown, revoked or expired)): run \`borg login URL\` with a valid user token, or set BORG_TOKEN`,
      );
      expect(expectOneLineError(fromProfile.stderr)).toContain('refused the token from profile "old"');
      expect(expectOneLineError(atLogin.stderr)).toContain(`the mothership at ${mothership().url} refused this token`);
      expect(expectOneLineError(none.stderr)).toContain('needs a token: run `borg login URL`');
      await expect(stat(join(dir(), 'never.json'))).rejects.toThrow(); // nothing stored

      // A runner's token is a real token, but not one for the API.
      const runner = await mothership().registerRunner();
      const forbidden = await borg(['jobs', 'list'], {
        env: { BORG_ADDR: mothership().url, BORG_TOKEN: runner.token, BORG_CONFIG: config },
      });
      expect(forbidden.code).toBe(4);
      expect(expectOneLineError(forbidden.stderr)).toContain('use a user token');
    });

    it('usage errors exit 2, unknown ids exit 3, illegal transitions exit 6, all without a stack trace', async () => {
      const env = adminEnv(mothership(), dir());
      const job = await mothership().admin.createJob({
        name: 'cancelled',
        type: 'shell',
        command: 'true',
        labels: { none: 'x' },
      });
      await mothership().admin.cancelJob(job.id);
      const [flag, duration, format, missing, conflict, notAnId, cleartext] = await Promise.all([
        borg(['submit', 'make', '-j4'], { env }),
        borg(['submit', '--timeout', 'soon', '--', 'true'], { env }),
        borg(['jobs', 'list', '-o', 'yaml'], { env }),
        borg(['jobs', 'show', '5f0c0f0e-0000-4000-8000-000000000000'], { env }),
        borg(['jobs', 'pause', job.id], { env }),
        borg(['logs', 'banana'], { env }),
        borg(['jobs', 'list'], { env: { ...env, BORG_ADDR: 'http://192.0.2.1:8080' } }),
      ]);
      expect(flag.code).toBe(2);
      expect(flag.stderr).toContain("borg: unknown option '-j4': put the command after --");
      expect(duration.code).toBe(2);
      expect(expectOneLineError(duration.stderr)).toContain('--timeout "soon" is not a duration');
      expect(format.code).toBe(2);
      expect(missing.code).toBe(3);
      expect(expectOneLineError(missing.stderr)).toContain('does not exist');
      expect(conflict.code).toBe(6);
      expect(expectOneLineError(conflict.stderr)).toBe(
        'borg: cannot pause a job that is cancelled: see its current state with `borg jobs show ID`',
      );
      expect(notAnId.code).toBe(2);
      expect(expectOneLineError(notAnId.stderr)).toContain('"banana" is not a job or task id');
      // A token never goes over plain http to another machine unless the user says so (A14).
      expect(cleartext.code).toBe(2);
      expect(expectOneLineError(cleartext.stderr)).toContain('refusing to send a token in clear text');
    });

    it('login names the address it was given when that one cannot be reached, not the saved one', async () => {
      const config = join(dir(), 'saved.json');
      await writeFile(config, JSON.stringify({ profiles: { default: { addr: mothership().url, token: 'x' } } }));
      const closed = await closedAddress();
      const login = await borg(['login', closed, '--token', 'borg_usr_x'], { env: { BORG_CONFIG: config } });
      expect(login.code).toBe(5);
      expect(expectOneLineError(login.stderr)).toMatch(new RegExp(`^borg: cannot reach ${closed} \\(ECONNREFUSED\\)`));
      expect(login.stderr).not.toContain(mothership().url);
    });
  },
);
