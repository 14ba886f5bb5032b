import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$BORG_CONFIG`, else `$XDG_CONFIG_HOME/borg/config.json`, else `~/.config/borg/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BORG_CONFIG) return env.BORG_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'borg', 'config.json');
}
