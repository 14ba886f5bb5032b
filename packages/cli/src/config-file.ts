import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { z } from 'zod';

import { CliError, ExitCode } from './cli-error.ts';

export { configPath } from './config-path.ts';

/**
 * `~/.config/borg/config.json`: where `borg login` keeps addresses and tokens, one profile per
 * mothership. It holds tokens, so it is written with mode 600 in a directory of mode 700,
 * through a temp file and a rename so a crash never leaves half a file.
 */
export const Profile = z.object({
  addr: z.string(),
  token: z.string().optional(),
  /** Set by `borg login --insecure`: this profile may send its token over plain http. */
  insecure: z.boolean().optional(),
});
export type Profile = z.infer<typeof Profile>;

export const ConfigFile = z.object({
  current_profile: z.string().default('default'),
  profiles: z.record(z.string(), Profile).default({}),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export async function readConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ConfigFile.parse({});
    throw new CliError(`cannot read ${path} (${(error as Error).message})`, ExitCode.USAGE, 'check its permissions');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not valid JSON`, ExitCode.USAGE, 'fix it, or delete it and run `borg login` again');
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliError(
      `${path}: ${issue.path.join('.') || 'file'}: ${issue.message}`,
      ExitCode.USAGE,
      'fix it, or delete it and run `borg login` again',
    );
  }
  return parsed.data;
}

export async function writeConfigFile(path: string, config: ConfigFile): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.config.json.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // The mode is set at creation, so the token is never readable by others, not even for a moment.
    await writeFile(temp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(temp, 0o600); // a umask cannot widen it, but be explicit
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new CliError(`cannot write ${path} (${(error as Error).message})`, ExitCode.USAGE, 'set BORG_CONFIG');
  }
}
